/// .npy/.npz files: NumPy's own files (fixtures/npy, made by make.py) read to the values it recorded, what
/// we write is byte for byte what numpy.save writes, round trips, and every refusal names file and fault.
module Adjoint.Tests.TestNpy

open System
open System.Collections.Generic
open System.IO
open System.IO.Compression
open System.Text
open System.Text.Json
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

let private fixture (name: string) =
    Path.Combine(repositoryRoot.Value, "tests", "Graph.Tests", "fixtures", "npy", name)

/// expected.json: for each file, "shape" and "values" (flat, C order), or for an archive the same by key.
let private expected =
    lazy
        (use doc = JsonDocument.Parse(File.ReadAllText(fixture "expected.json"))
         let array (e: JsonElement) =
             { Dims = [| for d in e.GetProperty("shape").EnumerateArray() -> d.GetInt32() |]
               Data = [| for x in e.GetProperty("values").EnumerateArray() -> x.GetDouble() |] }
         [ for p in doc.RootElement.EnumerateObject() ->
               if p.Name.EndsWith ".npz" then p.Name, Choice2Of2 [ for m in p.Value.EnumerateObject() -> m.Name, array m.Value ]
               else p.Name, Choice1Of2(array p.Value) ]
         |> dict)

let private expectedArray name =
    match expected.Value[name] with
    | Choice1Of2 a -> a
    | Choice2Of2 _ -> failwith $"{name} is an archive"

/// Equal dims and bit-for-bit equal values (−0.0 and subnormals included).
let private assertSame (want: NpyArray) (got: NpyArray) =
    Assert.Equal<int>(want.Dims, got.Dims)
    Assert.Equal<int64>(Array.map BitConverter.DoubleToInt64Bits want.Data, Array.map BitConverter.DoubleToInt64Bits got.Data)

/// A stream that only reads forward and does not know its length, as a socket or a zip member.
type ForwardOnly(bytes: byte[]) =
    inherit MemoryStream(bytes)
    override _.CanSeek = false
    override _.Length = raise (NotSupportedException())
    override _.Position
        with get () = raise (NotSupportedException())
        and set _ = raise (NotSupportedException())

let npyFiles () =
    let data = TheoryData<string>()
    for KeyValue(name, v) in expected.Value do
        match v with
        | Choice1Of2 _ -> data.Add name
        | Choice2Of2 _ -> ()
    data

[<Theory>]
[<MemberData(nameof npyFiles)>]
let ``every NumPy-written fixture reads to the shape and C-order values NumPy recorded`` (name: string) =
    assertSame (expectedArray name) (Npy.readFile (fixture name))

[<Fact>]
let ``the fixtures cover ranks 0 to 5, both byte orders, every dtype kind, Fortran order and header versions`` () =
    let names = expected.Value.Keys |> Set.ofSeq
    for name in [ "rank0.npy"; "rank1.npy"; "rank2.npy"; "rank3.npy"; "rank5.npy"; "f8_be.npy"; "f4.npy"; "f4_be.npy"
                  "i4.npy"; "i4_be.npy"; "i8.npy"; "i8_be.npy"; "u1.npy"; "i1.npy"; "bool.npy"; "fortran2.npy"
                  "fortran3.npy"; "v2.npy"; "v3.npy"; "align16.npy"; "empty.npy"; "stored.npz"; "compressed.npz" ] do
        Assert.Contains(name, names)
    Assert.Equal(5, (expectedArray "rank5.npy").Dims.Length)
    Assert.Empty((expectedArray "rank0.npy").Dims)

[<Fact>]
let ``a Fortran-order file is reordered to C order`` () =
    // NumPy wrote np.asfortranarray(ramp(3, 4)): in the file the first index runs fastest.
    let a = Npy.readFile (fixture "fortran2.npy")
    Assert.Equal<int>([| 3; 4 |], a.Dims)
    let ramp = [| for k in 0 .. 11 -> double (k + 1) * 0.25 * (if k % 2 = 0 then 2.0 else -5.0) |]
    Assert.Equal<double>(ramp, a.Data)
    let raw = File.ReadAllBytes(fixture "fortran2.npy")
    Assert.Equal(ramp[4], BitConverter.ToDouble(raw, raw.Length - 12 * 8 + 8))

[<Theory>]
[<InlineData("stored.npz")>]
[<InlineData("compressed.npz")>]
let ``an npz from savez and savez_compressed reads to its arrays by key, in the archive's order`` (name: string) =
    let want =
        match expected.Value[name] with
        | Choice2Of2 members -> members
        | Choice1Of2 _ -> failwith $"{name} is not an archive"
    let got = Npz.readFile (fixture name)
    Assert.Equal<string>(want |> List.map fst, got.Keys)
    for key, a in want do
        assertSame a got[key]

[<Theory>]
[<InlineData("rank0.npy")>]
[<InlineData("rank1.npy")>]
[<InlineData("rank2.npy")>]
[<InlineData("rank3.npy")>]
[<InlineData("rank5.npy")>]
[<InlineData("empty.npy")>]
[<InlineData("growth.npy")>]
let ``what we write is byte for byte what numpy.save wrote for the same float64 array`` (name: string) =
    let a = expectedArray name
    use s = new MemoryStream()
    Npy.write s a.Dims a.Data
    Assert.Equal<byte>(File.ReadAllBytes(fixture name), s.ToArray())

[<Fact>]
let ``the header is padded so that the data starts on a 64-byte boundary, ending in a newline`` () =
    for dims in [ [||]; [| 7 |]; [| 1000000; 2 |]; Array.create 8 1; Array.create 30 1 ] do
        use s = new MemoryStream()
        Npy.write s dims (Array.zeroCreate (Array.fold (*) 1 dims))
        let bytes = s.ToArray()
        let start = bytes.Length - 8 * Array.fold (*) 1 dims
        Assert.Equal(0, start % 64)
        Assert.Equal(byte '\n', bytes[start - 1])
        Assert.Equal(start - 10, int (BitConverter.ToUInt16(bytes, 8)))

[<Fact>]
let ``a header longer than 65535 bytes is written as version 2.0, and reads back`` () =
    let dims = Array.create 30000 1
    use s = new MemoryStream()
    Npy.write s dims [| 2.5 |]
    let bytes = s.ToArray()
    Assert.Equal(2uy, bytes[6])
    Assert.Equal(0, (12 + int (BitConverter.ToUInt32(bytes, 8))) % 64)
    s.Position <- 0L
    assertSame { Dims = dims; Data = [| 2.5 |] } (Npy.read s "v2")

let roundTrips: obj[] seq =
    let rnd = Random 13
    [ [||]; [| 1 |]; [| 5 |]; [| 2; 3 |]; [| 3; 1; 2; 2 |]; [| 1; 2; 1; 3; 1 |]; [| 0 |]; [| 4; 0; 2 |]; [| 70000 |] ]
    |> Seq.map (fun dims ->
        let data = Array.init (Array.fold (*) 1 dims) (fun _ -> rnd.NextDouble() * 2.0 - 1.0)
        [| box { Dims = dims; Data = data } |])

[<Theory>]
[<MemberData(nameof roundTrips)>]
let ``write then read gives the same dims and bits, to a file and through a stream that cannot seek`` (a: NpyArray) =
    use dir = new TempDirectory()
    Npy.writeFile (dir.File "a.npy") a.Dims a.Data
    assertSame a (Npy.readFile (dir.File "a.npy"))
    use forward = new ForwardOnly(File.ReadAllBytes(dir.File "a.npy"))
    assertSame a (Npy.read forward "stream")

[<Fact>]
let ``read leaves the stream after the array, so arrays saved one after another read in turn`` () =
    use s = new MemoryStream()
    Npy.write s [| 2 |] [| 1.0; 2.0 |]
    Npy.write s [||] [| 3.0 |]
    s.Position <- 0L
    Assert.Equal<double>([| 1.0; 2.0 |], (Npy.read s "two").Data)
    Assert.Equal<double>([| 3.0 |], (Npy.read s "two").Data)
    Assert.Equal(s.Length, s.Position)

[<Fact>]
let ``an npz round trip keeps keys, order, dims and bits; members are stored and the bytes do not depend on the clock`` () =
    let arrays =
        [ KeyValuePair("W1", { Dims = [| 2; 2 |]; Data = [| 1.0; -2.0; 3.5; 0.1 |] })
          KeyValuePair("b", { Dims = [||]; Data = [| -0.0 |] })
          KeyValuePair("a", { Dims = [| 1; 1; 3 |]; Data = [| 5e-324; 7.0; 8.0 |] }) ]
    use dir = new TempDirectory()
    Npz.writeFile (dir.File "net.npz") arrays
    let back = Npz.readFile (dir.File "net.npz")
    Assert.Equal<string>([ "W1"; "b"; "a" ], back.Keys)
    for KeyValue(k, a) in arrays do
        assertSame a back[k]
    (
        use zip = ZipFile.OpenRead(dir.File "net.npz")
        for e in zip.Entries do
            Assert.Equal(e.Length, e.CompressedLength)
    )
    // The first local header's compression method: 0, stored (8 would be deflate).
    Assert.Equal(0us, BitConverter.ToUInt16(File.ReadAllBytes(dir.File "net.npz"), 8))
    Npz.writeFile (dir.File "again.npz") back
    Assert.Equal<byte>(File.ReadAllBytes(dir.File "net.npz"), File.ReadAllBytes(dir.File "again.npz"))

[<Fact>]
let ``write refuses dims that do not match the data, negative dims, and repeated or empty npz keys`` () =
    Assert.Contains("dims (2, 3) hold 6 values but data has 5", (throws<ArgumentException> (fun () -> Npy.write (new MemoryStream()) [| 2; 3 |] (Array.zeroCreate 5))).Message)
    Assert.Contains("negative", (throws<ArgumentException> (fun () -> Npy.write (new MemoryStream()) [| -1 |] [||])).Message)
    let a = { Dims = [||]; Data = [| 1.0 |] }
    Assert.Contains("key 'x' appears twice", (throws<ArgumentException> (fun () -> Npz.write (new MemoryStream()) [ KeyValuePair("x", a); KeyValuePair("x", a) ])).Message)
    Assert.Contains("must not be empty", (throws<ArgumentException> (fun () -> Npz.write (new MemoryStream()) [ KeyValuePair("", a) ])).Message)

// Refusals. NumPy's own files first, then hand-made hostile ones.

let private refusal (f: unit -> 'a) = (throws<NpyException> (f >> ignore)).Message

[<Theory>]
[<InlineData("complex.npy", "complex.npy: dtype '<c16' is not supported (expected a float, int or bool array)")>]
[<InlineData("object.npy", "object.npy: dtype '|O' is not supported (expected a float, int or bool array)")>]
[<InlineData("string.npy", "string.npy: dtype '<U2' is not supported (expected a float, int or bool array)")>]
[<InlineData("structured.npy", "structured.npy: structured dtype [('x', '<f8'), ('y', '<i4')] is not supported (expected a float, int or bool array)")>]
[<InlineData("truncated.npy", "truncated.npy: the header says shape (2, 3) (6 values) but the file holds 1 value and 5 bytes")>]
let ``NumPy files of dtypes we do not convert, or cut short, are refused naming the file and the fault`` (name: string, message: string) =
    Assert.Equal(message, refusal (fun () -> Npy.readFile (fixture name)))

[<Fact>]
let ``a truncated npz member is refused naming the archive, the member and the counts`` () =
    let ex = throws<NpyException> (fun () -> Npz.readFile (fixture "truncated.npz") |> ignore)
    Assert.Equal("truncated.npz:X.npy: the header says shape (2, 3, 4) (24 values) but the file holds 7", ex.Message)
    Assert.Equal("truncated.npz:X.npy", ex.File)

/// A .npy file with this header text (padded to 64 bytes) and data, version 1.0 unless given.
let private hostile (version: byte) (header: string) (data: byte[]) =
    let text = Encoding.Latin1.GetBytes header
    let lengthBytes = if version = 1uy then 2 else 4
    let padded = text.Length + 64 - (8 + lengthBytes + text.Length) % 64
    use s = new MemoryStream()
    let put (b: byte[]) = s.Write(b, 0, b.Length)
    put [| 0x93uy; byte 'N'; byte 'U'; byte 'M'; byte 'P'; byte 'Y'; version; 0uy |]
    put (if lengthBytes = 2 then BitConverter.GetBytes(uint16 padded) else BitConverter.GetBytes(uint32 padded))
    put text
    put (Array.create (padded - text.Length - 1) (byte ' '))
    put [| byte '\n' |]
    put data
    s.ToArray()

let private header (shape: string) (descr: string) =
    "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }"

let private refusedBytes (bytes: byte[]) =
    let seekable = refusal (fun () -> Npy.read (new MemoryStream(bytes)) "h.npy")
    let forward = refusal (fun () -> Npy.read (new ForwardOnly(bytes)) "h.npy")
    Assert.Equal(seekable, forward)
    seekable

[<Fact>]
let ``hostile shapes are refused before any large allocation: negative, over int32, over 2^31 values, product overflow`` () =
    let eight = Array.zeroCreate 8
    Assert.Equal("h.npy: shape (2, -3) has a negative dimension", refusedBytes (hostile 1uy (header "(2, -3)" "<f8") eight))
    Assert.Equal("h.npy: shape (4294967296,) has a dimension over 2147483647", refusedBytes (hostile 1uy (header "(4294967296,)" "<f8") eight))
    Assert.Equal("h.npy: shape (65536, 65536) has 4294967296 values, more than the 2147483591 an array can hold", refusedBytes (hostile 1uy (header "(65536, 65536)" "<f8") eight))
    Assert.Equal("h.npy: shape (2147483647, 2147483647, 2147483647, 2147483647) has 21267647892944572736998860269687930881 values, more than the 2147483591 an array can hold", refusedBytes (hostile 1uy (header "(2147483647, 2147483647, 2147483647, 2147483647)" "|b1") eight))
    // Allowed in size but not present: refused on what the stream holds, without allocating 16 GB.
    Assert.Equal("h.npy: the header says shape (2000000000,) (2000000000 values) but the file holds 1", refusedBytes (hostile 1uy (header "(2000000000,)" "<f8") eight))

[<Fact>]
let ``a header length beyond the file, a bad magic or version, and malformed headers are refused`` () =
    let bytes = hostile 1uy (header "(1,)" "<f8") (Array.zeroCreate 8)
    bytes[8] <- 0xffuy
    bytes[9] <- 0xffuy
    Assert.Equal("h.npy: the header length 65535 runs past the end of the file (126 bytes follow)", refusal (fun () -> Npy.read (new MemoryStream(bytes)) "h.npy"))
    Assert.Equal("h.npy: the header length 65535 runs past the end of the file (126 bytes follow)", refusal (fun () -> Npy.read (new ForwardOnly(bytes)) "h.npy"))
    let v2 = hostile 2uy (header "(1,)" "<f8") (Array.zeroCreate 8)
    v2[11] <- 0x7fuy
    Assert.StartsWith("h.npy: the header length 2130706548 runs past the end of the file", refusal (fun () -> Npy.read (new MemoryStream(v2)) "h.npy"))
    Assert.StartsWith("h.npy: the header length 2130706548 is more than the 1048576 bytes", refusal (fun () -> Npy.read (new ForwardOnly(v2)) "h.npy"))
    Assert.Equal("h.npy: not a .npy file (it does not start with the magic \\x93NUMPY)", refusedBytes (Encoding.ASCII.GetBytes "{\"format\": 1}"))
    Assert.Equal("h.npy: not a .npy file (it does not start with the magic \\x93NUMPY)", refusedBytes [||])
    let v4 = hostile 1uy (header "(1,)" "<f8") (Array.zeroCreate 8)
    v4[6] <- 4uy
    Assert.Equal("h.npy: format version 4.0 is not supported (expected 1.0, 2.0 or 3.0)", refusedBytes v4)
    let eight = Array.zeroCreate 8
    Assert.Equal("h.npy: the header has no 'shape': {'descr': '<f8', 'fortran_order': False}", refusedBytes (hostile 1uy "{'descr': '<f8', 'fortran_order': False}" eight))
    Assert.Equal("h.npy: the header has an unknown key 'order' (expected 'descr', 'fortran_order' and 'shape')", refusedBytes (hostile 1uy "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'order': 1}" eight))
    Assert.Equal("h.npy: fortran_order must be True or False, got 0", refusedBytes (hostile 1uy "{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}" eight))
    Assert.Equal("h.npy: shape must be a tuple of integers, got [1]", refusedBytes (hostile 1uy "{'descr': '<f8', 'fortran_order': False, 'shape': [1]}" eight))
    Assert.Equal("h.npy: dtype '|f8' is not supported (expected a float, int or bool array)", refusedBytes (hostile 1uy (header "(1,)" "|f8") eight))
    Assert.StartsWith("h.npy: the header is not a Python dict literal (unexpected name 'open' at character 10)", refusedBytes (hostile 1uy "{'descr': open('x'), 'fortran_order': False, 'shape': (1,)}" eight))
    Assert.StartsWith("h.npy: the header is not a Python dict literal (nesting deeper than 32", refusedBytes (hostile 1uy (String('(', 5000)) eight))
    Assert.Equal("h.npy: the header is not a dict: (1, 2)", refusedBytes (hostile 1uy "(1, 2)" eight))

[<Fact>]
let ``readFile refuses bytes after the array (read on a stream leaves them)`` () =
    use dir = new TempDirectory()
    File.WriteAllBytes(dir.File "long.npy", hostile 1uy (header "(1,)" "<f8") (Array.zeroCreate 16))
    Assert.Equal("long.npy: the header says shape (1,) (1 value) but the file holds 2", refusal (fun () -> Npy.readFile (dir.File "long.npy")))
    Assert.Equal<double>([| 0.0 |], (Npy.read (new MemoryStream(File.ReadAllBytes(dir.File "long.npy"))) "long.npy").Data)

[<Fact>]
let ``a file that is not a zip, a member that is not a .npy, and a missing file are refused naming the file`` () =
    use dir = new TempDirectory()
    Npy.writeFile (dir.File "a.npy") [||] [| 1.0 |]
    Assert.StartsWith("a.npy: not a zip archive", refusal (fun () -> Npz.readFile (dir.File "a.npy")))
    (
        use zip = ZipFile.Open(dir.File "odd.npz", ZipArchiveMode.Create)
        use w = new StreamWriter((zip.CreateEntry "notes.txt").Open())
        w.Write "hello"
    )
    Assert.Equal("odd.npz: member 'notes.txt' is not a .npy file (expected <key>.npy)", refusal (fun () -> Npz.readFile (dir.File "odd.npz")))
    Assert.StartsWith("missing.npy: cannot read the file:", refusal (fun () -> Npy.readFile (dir.File "missing.npy")))
    Assert.StartsWith("missing.npz: cannot read the file:", refusal (fun () -> Npz.readFile (dir.File "missing.npz")))

[<Fact>]
let ``int64 and uint64 elements read exactly up to 2^53; beyond it the file is refused naming the element`` () =
    let longs (xs: int64 list) = xs |> List.collect (fun x -> List.ofArray (BitConverter.GetBytes x)) |> Array.ofList
    let limit = 1L <<< 53
    let ok = Npy.read (new MemoryStream(hostile 1uy (header "(3,)" "<i8") (longs [ limit; -limit; 7L ]))) "h.npy"
    Assert.Equal<double[]>([| 9007199254740992.0; -9007199254740992.0; 7.0 |], ok.Data)
    Assert.Equal("h.npy: element 1 in the file's order is 9007199254740993, beyond ±2^53, which a double cannot hold exactly",
                 refusedBytes (hostile 1uy (header "(3,)" "<i8") (longs [ 1L; limit + 1L; 0L ])))
    Assert.Equal("h.npy: element 0 in the file's order is 18446744073709551615, beyond ±2^53, which a double cannot hold exactly",
                 refusedBytes (hostile 1uy (header "(1,)" "<u8") (longs [ -1L ])))

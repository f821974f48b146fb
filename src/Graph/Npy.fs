/// NumPy's .npy and .npz files: float, int and bool arrays of any rank read as doubles in row-major (C)
/// order; doubles written byte for byte as numpy.save and numpy.savez write them.
///
/// A .npy file (numpy.lib.format) is the magic "\x93NUMPY", a major and a minor version byte, the header
/// length (little-endian uint16 in version 1.0, uint32 in 2.0 and 3.0), the header — a Python dict literal
/// such as {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), } in Latin-1 (UTF-8 in 3.0), padded
/// with spaces and a newline so that the data starts on a 64-byte boundary (16 for older writers) — and
/// then the data: product(shape) items of the dtype, in C order unless fortran_order. A .npz file is a zip
/// of .npy members named "<key>.npy", stored (numpy.savez) or deflated (numpy.savez_compressed).
namespace Adjoint

open System
open System.Buffers.Binary
open System.Collections.Generic
open System.IO
open System.IO.Compression
open System.Numerics
open System.Text

/// An array as a .npy file holds it: the dimensions (none for rank 0, a single value) and the values in
/// row-major (C) order, the last index fastest: element (i₀, …, iₖ) of dims (d₀, …, dₖ) is
/// Data[(…(i₀·d₁ + i₁)·d₂ + …)·dₖ + iₖ], and Data has d₀·d₁·…·dₖ values.
type NpyArray = { Dims: int[]; Data: double[] }

/// A .npy or .npz file this reader refuses. `File` is the file ("W1.npy") or the archive member
/// ("data.npz:X.npy"), `Detail` what is wrong with it; the message is "{File}: {Detail}".
type NpyException(source: string, detail: string, ?inner: exn) =
    inherit Exception($"{source}: {detail}", defaultArg inner null)
    /// The file, or "archive.npz:member.npy", at fault.
    member _.File = source
    /// What is wrong, without the file name.
    member _.Detail = detail

/// The .npy header: a Python literal parsed without Python, and the dtypes this reader converts.
module internal NpyHeader =
    /// The Python literals a header is made of.
    type Literal =
        | Str of string
        | Int of BigInteger
        | Bool of bool
        | NoneLiteral
        | Tuple of Literal list
        | List of Literal list
        | Dict of (Literal * Literal) list

    /// Python's repr, for messages: shape (3,) and dtype '<f8' appear as numpy prints them.
    let rec repr (l: Literal) =
        let items (xs: Literal list) = String.Join(", ", xs |> List.map repr)
        match l with
        | Str s -> "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'"
        | Int i -> i.ToString()
        | Bool b -> if b then "True" else "False"
        | NoneLiteral -> "None"
        | Tuple [ x ] -> $"({repr x},)"
        | Tuple xs -> $"({items xs})"
        | List xs -> $"[{items xs}]"
        | Dict kvs -> "{" + String.Join(", ", kvs |> List.map (fun (k, v) -> $"{repr k}: {repr v}")) + "}"

    /// Nesting beyond this is refused, so that a hostile header cannot exhaust the stack.
    [<Literal>]
    let MaxDepth = 32

    exception private Malformed of string

    /// A recursive-descent reader of the Python literals a header is made of, at offset i of the text.
    type private Reader(text: string) =
        let mutable i = 0
        let failAt (what: string) = raise (Malformed $"{what} at character {i}")
        let peek () = if i < text.Length then text[i] else '\000'
        let skipSpace () =
            while i < text.Length && Char.IsWhiteSpace text[i] do
                i <- i + 1
        let rec value depth =
            skipSpace ()
            if depth > MaxDepth then failAt $"nesting deeper than {MaxDepth}"
            match peek () with
            | '{' ->
                let pairs = ResizeArray()
                sequence '}' (fun () -> pairs.Add(pair depth)) |> ignore
                Dict(List.ofSeq pairs)
            | '[' ->
                let xs = ResizeArray()
                sequence ']' (fun () -> xs.Add(value (depth + 1))) |> ignore
                List(List.ofSeq xs)
            | '(' ->
                let xs = ResizeArray()
                let comma = sequence ')' (fun () -> xs.Add(value (depth + 1)))
                // (x) is x in Python; (x,) is a tuple.
                if xs.Count = 1 && not comma then xs[0] else Tuple(List.ofSeq xs)
            | '\''
            | '"' -> Str(quoted ())
            | c when Char.IsDigit c || c = '-' || c = '+' -> integer ()
            | c when Char.IsLetter c -> word ()
            | '\000' -> failAt "the header ends early"
            | c -> failAt $"unexpected '{c}'"
        and pair depth =
            let k = value (depth + 1)
            skipSpace ()
            if peek () <> ':' then failAt "expected ':'"
            i <- i + 1
            k, value (depth + 1)
        /// Reads items up to the closing bracket; whether a comma followed the last one.
        and sequence (close: char) (item: unit -> unit) : bool =
            i <- i + 1
            let mutable comma = false
            skipSpace ()
            while peek () <> close do
                item ()
                skipSpace ()
                comma <- peek () = ','
                if comma then i <- i + 1
                elif peek () <> close then failAt $"expected ',' or '{close}'"
                skipSpace ()
            i <- i + 1
            comma
        and quoted () =
            let q = text[i]
            i <- i + 1
            let sb = StringBuilder()
            while peek () <> q do
                if i >= text.Length then failAt "unterminated string"
                if text[i] = '\\' && i + 1 < text.Length then i <- i + 1
                sb.Append text[i] |> ignore
                i <- i + 1
            i <- i + 1
            sb.ToString()
        and integer () =
            let start = i
            if peek () = '-' || peek () = '+' then i <- i + 1
            while Char.IsDigit(peek ()) do
                i <- i + 1
            let digits = text.Substring(start, i - start)
            // Python 2 wrote long integers as 3L.
            if peek () = 'L' then i <- i + 1
            match BigInteger.TryParse digits with
            | true, n -> Int n
            | _ -> failAt $"'{digits}' is not an integer"
        and word () =
            let start = i
            while Char.IsLetterOrDigit(peek ()) || peek () = '_' do
                i <- i + 1
            match text.Substring(start, i - start) with
            | "True" -> Bool true
            | "False" -> Bool false
            | "None" -> NoneLiteral
            | w ->
                i <- start
                failAt $"unexpected name '{w}'"
        /// The one literal of the text, followed only by whitespace.
        member _.Whole() =
            let result = value 0
            skipSpace ()
            if i < text.Length then failAt "unexpected text after the dict"
            result

    /// The literal `text` holds — the header dict, followed only by the whitespace padding; Error names the
    /// character offset at fault and what was expected there.
    let parse (text: string) : Result<Literal, string> =
        try
            Ok(Reader(text).Whole())
        with Malformed m ->
            Error m

    /// How one item of a dtype becomes a double: its size in bytes and the conversion at an offset.
    type Item = { Size: int; Decode: byte[] -> int -> double }

    let private decoder size decode = Some { Size = size; Decode = decode }

    /// An int64 or uint64 element beyond ±2⁵³, which no double holds exactly (its text).
    exception InexactInteger of string

    let private exactSigned (v: int64) =
        if v > (1L <<< 53) || v < -(1L <<< 53) then raise (InexactInteger(string v))
        double v

    let private exactUnsigned (v: uint64) =
        if v > (1UL <<< 53) then raise (InexactInteger(string v))
        double v

    /// The dtypes converted to double: floats f2/f4/f8, signed and unsigned ints of 1–8 bytes, bool b1;
    /// '<' little-endian, '>' big-endian; any byte-order mark for one byte ('|' as NumPy writes). an int64 or uint64 beyond ±2⁵³ is refused (InexactInteger), since no
    /// double holds it exactly.
    let dtype (descr: string) : Item option =
        let little = descr.StartsWith "<"
        let oneByte = descr.Length = 3 && "|<>=".Contains descr[0]
        match (if descr.Length > 1 then descr.Substring 1 else "") with
        | "b1" when oneByte -> decoder 1 (fun b o -> if b[o] <> 0uy then 1.0 else 0.0)
        | "u1" when oneByte -> decoder 1 (fun b o -> double b[o])
        | "i1" when oneByte -> decoder 1 (fun b o -> double (sbyte b[o]))
        | _ when not (descr.StartsWith "<" || descr.StartsWith ">") -> None
        | "f8" when little -> decoder 8 (fun b o -> BinaryPrimitives.ReadDoubleLittleEndian(ReadOnlySpan(b, o, 8)))
        | "f8" -> decoder 8 (fun b o -> BinaryPrimitives.ReadDoubleBigEndian(ReadOnlySpan(b, o, 8)))
        | "f4" when little -> decoder 4 (fun b o -> double (BinaryPrimitives.ReadSingleLittleEndian(ReadOnlySpan(b, o, 4))))
        | "f4" -> decoder 4 (fun b o -> double (BinaryPrimitives.ReadSingleBigEndian(ReadOnlySpan(b, o, 4))))
        | "f2" when little -> decoder 2 (fun b o -> double (BinaryPrimitives.ReadHalfLittleEndian(ReadOnlySpan(b, o, 2))))
        | "f2" -> decoder 2 (fun b o -> double (BinaryPrimitives.ReadHalfBigEndian(ReadOnlySpan(b, o, 2))))
        | "i2" when little -> decoder 2 (fun b o -> double (BinaryPrimitives.ReadInt16LittleEndian(ReadOnlySpan(b, o, 2))))
        | "i2" -> decoder 2 (fun b o -> double (BinaryPrimitives.ReadInt16BigEndian(ReadOnlySpan(b, o, 2))))
        | "u2" when little -> decoder 2 (fun b o -> double (BinaryPrimitives.ReadUInt16LittleEndian(ReadOnlySpan(b, o, 2))))
        | "u2" -> decoder 2 (fun b o -> double (BinaryPrimitives.ReadUInt16BigEndian(ReadOnlySpan(b, o, 2))))
        | "i4" when little -> decoder 4 (fun b o -> double (BinaryPrimitives.ReadInt32LittleEndian(ReadOnlySpan(b, o, 4))))
        | "i4" -> decoder 4 (fun b o -> double (BinaryPrimitives.ReadInt32BigEndian(ReadOnlySpan(b, o, 4))))
        | "u4" when little -> decoder 4 (fun b o -> double (BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(b, o, 4))))
        | "u4" -> decoder 4 (fun b o -> double (BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(b, o, 4))))
        | "i8" when little -> decoder 8 (fun b o -> exactSigned (BinaryPrimitives.ReadInt64LittleEndian(ReadOnlySpan(b, o, 8))))
        | "i8" -> decoder 8 (fun b o -> exactSigned (BinaryPrimitives.ReadInt64BigEndian(ReadOnlySpan(b, o, 8))))
        | "u8" when little -> decoder 8 (fun b o -> exactUnsigned (BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan(b, o, 8))))
        | "u8" -> decoder 8 (fun b o -> exactUnsigned (BinaryPrimitives.ReadUInt64BigEndian(ReadOnlySpan(b, o, 8))))
        | _ -> None

/// Reading and writing one .npy array.
module Npy =
    open NpyHeader

    let private fail source detail = raise (NpyException(source, detail))

    let private magic = [| 0x93uy; byte 'N'; byte 'U'; byte 'M'; byte 'P'; byte 'Y' |]

    /// Headers are a few hundred bytes; numpy.load refuses more than 10,000 without allow_pickle.
    [<Literal>]
    let private MaxHeader = 1048576

    let private shapeText (dims: int[]) = repr (Tuple [ for d in dims -> Int(BigInteger d) ])

    /// Reads n bytes, or fewer at the end of the stream; returns how many were read.
    let private readUpTo (stream: Stream) (buffer: byte[]) (n: int) = stream.ReadAtLeast(buffer.AsSpan(0, n), n, false)

    /// The bytes left in a seekable stream, or None.
    let private remaining (stream: Stream) = if stream.CanSeek then Some(stream.Length - stream.Position) else None

    /// C order from Fortran order: element (i₀, …, iₖ) is at Σ iⱼ·Πₗ<ⱼ dₗ in `f`; walked in C order with
    /// an odometer over the indices, that offset moves by stride j when index j steps.
    let private toCOrder (dims: int[]) (f: double[]) =
        if dims.Length <= 1 || f.Length = 0 then f
        else
            let rank = dims.Length
            let strides = Array.zeroCreate rank
            strides[0] <- 1
            for j in 1 .. rank - 1 do
                strides[j] <- strides[j - 1] * dims[j - 1]
            let index = Array.zeroCreate rank
            let c = Array.zeroCreate f.Length
            let mutable offset = 0
            for n in 0 .. c.Length - 1 do
                c[n] <- f[offset]
                let mutable j = rank - 1
                let mutable carry = true
                while carry && j >= 0 do
                    index[j] <- index[j] + 1
                    offset <- offset + strides[j]
                    if index[j] = dims[j] then
                        offset <- offset - strides[j] * dims[j]
                        index[j] <- 0
                        j <- j - 1
                    else carry <- false
            c

    /// The header's dtype, Fortran order, dims and value count, each checked; leaves the stream at the data.
    let private header (stream: Stream) (source: string) =
        let prefix = Array.zeroCreate 8
        let got = readUpTo stream prefix 8
        if got < 6 || not (prefix.AsSpan(0, 6).SequenceEqual(magic)) then
            fail source "not a .npy file (it does not start with the magic \\x93NUMPY)"
        if got < 8 then fail source "the file ends inside the format version"
        let major, minor = prefix[6], prefix[7]
        let lengthBytes =
            match major, minor with
            | 1uy, 0uy -> 2
            | 2uy, 0uy
            | 3uy, 0uy -> 4
            | _ -> fail source $"format version {major}.{minor} is not supported (expected 1.0, 2.0 or 3.0)"
        let lengthField = Array.zeroCreate 4
        if readUpTo stream lengthField lengthBytes < lengthBytes then fail source "the file ends inside the header length"
        let length =
            if lengthBytes = 2 then int64 (BinaryPrimitives.ReadUInt16LittleEndian(lengthField.AsSpan(0, 2)))
            else int64 (BinaryPrimitives.ReadUInt32LittleEndian(lengthField.AsSpan(0, 4)))
        let pastEnd (follow: int64) =
            fail source $"the header length {length} runs past the end of the file ({follow} bytes follow)"
        match remaining stream with
        | Some r when r < length -> pastEnd r
        | _ -> ()
        if length > int64 MaxHeader then fail source $"the header length {length} is more than the {MaxHeader} bytes this reader accepts"
        let bytes = Array.zeroCreate (int length)
        let got = readUpTo stream bytes bytes.Length
        if got < bytes.Length then pastEnd got
        let text =
            try
                if major = 3uy then UTF8Encoding(false, true).GetString bytes else Encoding.Latin1.GetString bytes
            with :? DecoderFallbackException ->
                fail source "the header is not valid UTF-8 (format version 3.0)"
        let shown = text.TrimEnd()
        let shown = if shown.Length > 200 then shown.Substring(0, 200) + "…" else shown
        match parse text with
        | Error e -> fail source $"the header is not a Python dict literal ({e}): {shown}"
        | Ok(Dict entries) ->
            let keys = [ "descr"; "fortran_order"; "shape" ]
            let field (name: string) =
                match entries |> List.tryFind (fun (k, _) -> k = Str name) with
                | Some(_, v) -> v
                | None -> fail source $"the header has no '{name}': {shown}"
            match entries |> List.tryFind (fun (k, _) -> not (List.exists (fun n -> k = Str n) keys)) with
            | Some(k, _) -> fail source $"the header has an unknown key {repr k} (expected 'descr', 'fortran_order' and 'shape')"
            | None -> ()
            let item =
                match field "descr" with
                | Str d ->
                    match dtype d with
                    | Some it -> it
                    | None -> fail source $"dtype '{d}' is not supported (expected a float, int or bool array)"
                | List _ as d -> fail source $"structured dtype {repr d} is not supported (expected a float, int or bool array)"
                | d -> fail source $"dtype {repr d} is not supported (expected a float, int or bool array)"
            let fortran =
                match field "fortran_order" with
                | Bool b -> b
                | v -> fail source $"fortran_order must be True or False, got {repr v}"
            let dims =
                match field "shape" with
                | Tuple ds as shape ->
                    [| for d in ds ->
                           match d with
                           | Int n when n.Sign < 0 -> fail source $"shape {repr shape} has a negative dimension"
                           | Int n when n > BigInteger Int32.MaxValue ->
                               fail source $"shape {repr shape} has a dimension over {Int32.MaxValue}"
                           | Int n -> int n
                           | v -> fail source $"shape {repr shape} has {repr v}, not an integer" |]
                | v -> fail source $"shape must be a tuple of integers, got {repr v}"
            let count = dims |> Array.fold (fun p d -> p * BigInteger d) BigInteger.One
            if count > BigInteger Array.MaxLength then
                fail source $"shape {shapeText dims} has {count} values, more than the {Array.MaxLength} an array can hold"
            item, fortran, dims, int count
        | Ok other -> fail source $"the header is not a dict: {repr other}"

    let private values (n: int64) = if n = 1L then "1 value" else $"{n} values"

    /// "7" values, or "1 value and 5 bytes" when the bytes are not whole items.
    let private holds (bytes: int64) (size: int) =
        let n, rest = bytes / int64 size, bytes % int64 size
        if rest = 0L then $"{n}" else $"""{values n} and {rest} byte{if rest = 1L then "" else "s"}"""

    /// One array from the stream's position; `whole`: nothing may follow it.
    let private readArray (stream: Stream) (source: string) (whole: bool) : NpyArray =
        let item, fortran, dims, count = header stream source
        let expected = int64 count * int64 item.Size
        let truncated (bytes: int64) =
            fail source $"the header says shape {shapeText dims} ({values (int64 count)}) but the file holds {holds bytes item.Size}"
        // A hostile header may claim 2³¹ values: allocate for what is there, growing as it arrives,
        // unless the stream's length vouches for all of it.
        let mutable data =
            match remaining stream with
            | Some r when r < expected -> truncated r
            | Some _ -> Array.zeroCreate count
            | None -> Array.zeroCreate (min count 65536)
        let chunk = Array.zeroCreate (65536 * item.Size)
        let mutable filled = 0
        while filled < count do
            let want = min (count - filled) 65536
            let got = readUpTo stream chunk (want * item.Size)
            if got < want * item.Size then truncated (int64 filled * int64 item.Size + int64 got)
            if filled + want > data.Length then
                let grown = Array.zeroCreate (int (min (int64 count) (2L * int64 data.Length + int64 want)))
                Array.blit data 0 grown 0 filled
                data <- grown
            let mutable k = 0
            try
                while k < want do
                    data[filled + k] <- item.Decode chunk (k * item.Size)
                    k <- k + 1
            with InexactInteger text ->
                fail source $"element {filled + k} in the file's order is {text}, beyond ±2^53, which a double cannot hold exactly"
            filled <- filled + want
        if whole then
            let extra =
                match remaining stream with
                | Some r -> r
                | None ->
                    let mutable total = 0L
                    let mutable got = readUpTo stream chunk chunk.Length
                    while got > 0 do
                        total <- total + int64 got
                        got <- readUpTo stream chunk chunk.Length
                    total
            if extra > 0L then truncated (expected + extra)
        { Dims = dims; Data = if fortran then toCOrder dims data else data }

    /// Reads one array from the stream's position and leaves the stream just after its data, as
    /// numpy.load does with an open file (so arrays saved one after another are read in turn). Every dtype
    /// of floats (f2, f4, f8), integers (i1–i8, u1–u8) or bools (b1, as 0 and 1), either byte order, becomes
    /// doubles; a Fortran-order array is reordered to C order. `source` names the stream in errors.
    /// Raises NpyException for anything else (complex, object, string or structured dtypes), for a
    /// malformed header, and for data shorter than the shape.
    let read (stream: Stream) (source: string) : NpyArray = readArray stream source false

    /// Reads a .npy file that holds one array and nothing after it (see read); errors name the file.
    let readFile (path: string) : NpyArray =
        let source = Path.GetFileName path
        use stream =
            try
                File.OpenRead path
            with ex ->
                raise (NpyException(source, $"cannot read the file: {ex.Message}", ex))
        readArray stream source true

    let private validate (dims: int[]) (data: double[]) =
        if isNull dims || isNull data then nullArg (if isNull dims then "dims" else "data")
        if dims |> Array.exists (fun d -> d < 0) then
            invalidArg "dims" $"dims {shapeText dims} has a negative dimension"
        let count = dims |> Array.fold (fun p d -> p * int64 d) 1L
        if count <> int64 data.Length then
            invalidArg "data" $"dims {shapeText dims} hold {count} values but data has {data.Length}"

    /// The header numpy.save writes for a C-order float64 array: the dict with its keys sorted, room for
    /// the first dimension to grow to 21 digits, spaces and a newline to a 64-byte boundary; version 1.0,
    /// or 2.0 when that does not fit a uint16 length.
    let private headerBytes (dims: int[]) =
        let growth = if dims.Length > 0 then max 0 (21 - string(dims[0]).Length) else 0
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': " + shapeText dims + ", }" + String(' ', growth)
        let hlen = dict.Length + 1
        let padded lengthBytes = hlen + 64 - (6 + 2 + lengthBytes + hlen) % 64
        let version, lengthBytes = if padded 2 <= int UInt16.MaxValue then 1uy, 2 else 2uy, 4
        let bytes = Array.zeroCreate (8 + lengthBytes + padded lengthBytes)
        magic.CopyTo(bytes, 0)
        bytes[6] <- version
        if lengthBytes = 2 then BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), uint16 (padded 2))
        else BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), uint32 (padded 4))
        let text = 8 + lengthBytes
        Encoding.ASCII.GetBytes(dict, 0, dict.Length, bytes, text) |> ignore
        bytes.AsSpan(text + dict.Length).Fill(byte ' ')
        bytes[bytes.Length - 1] <- byte '\n'
        bytes

    /// Writes the array as numpy.save(f, np.asarray(data, '<f8').reshape(dims)) does, byte for byte:
    /// dtype '<f8', C order, the header padded to 64 bytes (see headerBytes). Dims may be empty (rank 0,
    /// one value); `data` is in row-major order and must hold the product of `dims` values.
    let write (stream: Stream) (dims: int[]) (data: double[]) =
        validate dims data
        stream.Write(headerBytes dims)
        let chunk = Array.zeroCreate (8 * min data.Length 65536)
        let mutable k = 0
        while k < data.Length do
            let n = min (data.Length - k) 65536
            for j in 0 .. n - 1 do
                BinaryPrimitives.WriteDoubleLittleEndian(chunk.AsSpan(8 * j), data[k + j])
            stream.Write(chunk, 0, 8 * n)
            k <- k + n

    /// Writes a .npy file (see write), replacing any file at `path`.
    let writeFile (path: string) (dims: int[]) (data: double[]) =
        validate dims data
        use stream = File.Create path
        write stream dims data

    /// Reads an .npz member exactly (nothing may follow the array); for Npz.
    let internal readMember (stream: Stream) (source: string) = readArray stream source true

/// Reading and writing .npz archives: zips of .npy members named "<key>.npy".
module Npz =
    let private fail source detail = raise (NpyException(source, detail))

    /// The arrays of an .npz archive by key — the member name without ".npy" — in the archive's order.
    /// Reads stored (numpy.savez) and deflated (numpy.savez_compressed) members; each member is read as by
    /// Npy.readFile, and its errors name it as "{source}:{member}". A member that is not a .npy file, or a
    /// key that appears twice, is an error.
    let read (stream: Stream) (source: string) : IReadOnlyDictionary<string, NpyArray> =
        use zip =
            try
                new ZipArchive(stream, ZipArchiveMode.Read, true)
            with :? InvalidDataException as ex ->
                raise (NpyException(source, $"not a zip archive (an .npz file is one): {ex.Message}", ex))
        let arrays = OrderedDictionary<string, NpyArray>()
        for entry in zip.Entries do
            let name = entry.FullName
            let at = $"{source}:{name}"
            if not (name.EndsWith ".npy") then fail source $"member '{name}' is not a .npy file (expected <key>.npy)"
            let key = name.Substring(0, name.Length - 4)
            if arrays.ContainsKey key then fail source $"member '{name}' appears twice"
            try
                use content = entry.Open()
                arrays.Add(key, Npy.readMember content at)
            with :? InvalidDataException as ex ->
                raise (NpyException(at, $"cannot decompress the member: {ex.Message}", ex))
        arrays :> IReadOnlyDictionary<_, _>

    /// Reads an .npz file (see read); errors name the file and, for a member, the member.
    let readFile (path: string) : IReadOnlyDictionary<string, NpyArray> =
        let source = Path.GetFileName path
        use stream =
            try
                File.OpenRead path
            with ex ->
                raise (NpyException(source, $"cannot read the file: {ex.Message}", ex))
        read stream source

    /// Zip's earliest time: members carry it rather than the clock, so that the same arrays give the same
    /// bytes.
    let private epoch = DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero)

    /// Writes the arrays as numpy.savez does: one stored (uncompressed) member "<key>.npy" each, in the
    /// order given, written by Npy.write. Keys must be non-empty and distinct. A dictionary (Npz.read's
    /// result, or a C# Dictionary) is such a sequence.
    let write (stream: Stream) (arrays: seq<KeyValuePair<string, NpyArray>>) =
        let arrays = Array.ofSeq arrays
        let seen = HashSet<string>()
        for KeyValue(key, _) in arrays do
            if String.IsNullOrEmpty key then invalidArg "arrays" "an .npz key must not be empty"
            if not (seen.Add key) then invalidArg "arrays" $"key '{key}' appears twice"
        use zip = new ZipArchive(stream, ZipArchiveMode.Create, true)
        for KeyValue(key, a) in arrays do
            let entry = zip.CreateEntry(key + ".npy", CompressionLevel.NoCompression)
            entry.LastWriteTime <- epoch
            use content = entry.Open()
            Npy.write content a.Dims a.Data

    /// Writes an .npz file (see write), replacing any file at `path`.
    let writeFile (path: string) (arrays: seq<KeyValuePair<string, NpyArray>>) =
        use stream = File.Create path
        write stream arrays

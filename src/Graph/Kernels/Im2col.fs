/// im2col and col2im for NCHW convolutions: an image's receptive fields laid out as the columns of a
/// matrix, so that a convolution is one GEMM; and per-thread scratch matrices for them.
module internal Adjoint.Kernels.Im2col

open System
open System.Collections.Generic
open Adjoint

/// A 2-d sliding window over an NCHW input: sizes, kernel, stride, zero padding and dilation per
/// spatial axis, and the output size (OH, OW). A 1-d window is H = KH = OH = 1.
[<Struct>]
type Window =
    { N: int; C: int; H: int; W: int
      KH: int; KW: int; SH: int; SW: int; PH: int; PW: int; DH: int; DW: int
      OH: int; OW: int }

/// The output length along one axis, ⌊(size + 2p − d(k − 1) − 1)/s⌋ + 1; 0 or less when the dilated
/// kernel is longer than the padded input.
let outLength (size: int) (k: int) (s: int) (p: int) (d: int) =
    let reach = size + 2 * p - d * (k - 1) - 1
    if reach < 0 then 0 else reach / s + 1

/// The outputs o in [lo, hi) whose kernel offset t reads inside the input: 0 ≤ o·s − p + t·d < size.
let inline validRange (size: int) (s: int) (p: int) (d: int) (t: int) (outCount: int) =
    let off = t * d - p
    let lo = if off >= 0 then 0 else min outCount ((-off + s - 1) / s)
    let last = size - 1 - off
    let hi = if last < 0 then 0 else min outCount (last / s + 1)
    struct (lo, max lo hi)

/// cols[((c·KH + i)·KW + j), n·OH·OW + oh·OW + ow] = x[n, c0 + c, oh·SH − PH + i·DH, ow·SW − PW + j·DW]
/// (0 outside the input), for the `cg` channels from c0: a (cg·KH·KW) × (N·OH·OW) matrix.
let im2col (g: Window) (x: double[]) (c0: int) (cg: int) (cols: double[]) =
    let p = g.OH * g.OW
    let width = g.N * p
    for c in 0 .. cg - 1 do
        for i in 0 .. g.KH - 1 do
            let struct (ohLo, ohHi) = validRange g.H g.SH g.PH g.DH i g.OH
            for j in 0 .. g.KW - 1 do
                let struct (owLo, owHi) = validRange g.W g.SW g.PW g.DW j g.OW
                let row = ((c * g.KH + i) * g.KW + j) * width
                for n in 0 .. g.N - 1 do
                    let image = (n * g.C + c0 + c) * g.H * g.W
                    let start = row + n * p
                    for oh in 0 .. g.OH - 1 do
                        let dst = start + oh * g.OW
                        if oh < ohLo || oh >= ohHi then Array.Clear(cols, dst, g.OW)
                        else
                            let src = image + (oh * g.SH - g.PH + i * g.DH) * g.W - g.PW + j * g.DW
                            if owLo > 0 then Array.Clear(cols, dst, owLo)
                            if owHi < g.OW then Array.Clear(cols, dst + owHi, g.OW - owHi)
                            if g.SW = 1 then Array.Copy(x, src + owLo, cols, dst + owLo, owHi - owLo)
                            else
                                for ow in owLo .. owHi - 1 do
                                    cols[dst + ow] <- x[src + ow * g.SW]

/// The adjoint of im2col: dx[n, c0 + c, …] += cols[…] for every entry im2col reads from the input, in
/// im2col's order (channel, kernel row, kernel column, image, output row, output column), so the sums
/// are always made in one order.
let col2im (g: Window) (cols: double[]) (c0: int) (cg: int) (dx: double[]) =
    let p = g.OH * g.OW
    let width = g.N * p
    for c in 0 .. cg - 1 do
        for i in 0 .. g.KH - 1 do
            let struct (ohLo, ohHi) = validRange g.H g.SH g.PH g.DH i g.OH
            for j in 0 .. g.KW - 1 do
                let struct (owLo, owHi) = validRange g.W g.SW g.PW g.DW j g.OW
                let row = ((c * g.KH + i) * g.KW + j) * width
                for n in 0 .. g.N - 1 do
                    let image = (n * g.C + c0 + c) * g.H * g.W
                    let start = row + n * p
                    for oh in ohLo .. ohHi - 1 do
                        let dst = start + oh * g.OW
                        let src = image + (oh * g.SH - g.PH + i * g.DH) * g.W - g.PW + j * g.DW
                        for ow in owLo .. owHi - 1 do
                            dx[src + ow * g.SW] <- dx[src + ow * g.SW] + cols[dst + ow]

/// Scratch matrices kept per thread and per (purpose, rows, cols), so that a convolution evaluated again
/// allocates nothing. Every user overwrites the whole matrix before reading it, and none keeps it past
/// the call, so the contents never carry from one call to the next.
type private Store() =
    [<ThreadStatic; DefaultValue>]
    static val mutable private buffers: Dictionary<struct (int * int * int), Tensor>

    static member Get(purpose: int, rows: int, cols: int) =
        if isNull Store.buffers then Store.buffers <- Dictionary()
        let key = struct (purpose, rows, cols)
        match Store.buffers.TryGetValue key with
        | true, t -> t
        | _ ->
            // A bound on what a thread keeps: many shapes in turn start it afresh.
            if Store.buffers.Count >= 32 then Store.buffers.Clear()
            let t = Tensor(rows, cols)
            Store.buffers[key] <- t
            t

/// A rows × cols scratch matrix of this thread for one purpose (its contents are arbitrary).
let scratch (purpose: int) (rows: int) (cols: int) = Store.Get(purpose, rows, cols)

/// NumPy's broadcasting: the shape two arguments broadcast to, and a walk over the output that gives each
/// element's offsets into both arguments.
module Adjoint.Broadcast

open Adjoint

/// The shape a and b broadcast to: dimensions aligned on the right, each pair equal or one of them 1
/// (or absent). None when some pair is neither.
let shape (a: Shape) (b: Shape) : Shape voption =
    // The common cases first, without allocating: graphs of 10⁶ scalar nodes are built through here.
    if a.Equals b then ValueSome a
    elif b.Count = 1 && b.Rank <= a.Rank then ValueSome a
    elif a.Count = 1 && a.Rank <= b.Rank then ValueSome b
    else
        let ra = a.Raw
        let rb = b.Raw
        let r = max ra.Length rb.Length
        let dims = Array.zeroCreate r
        let mutable ok = true
        for d in 0 .. r - 1 do
            let da = if d < r - ra.Length then 1 else ra[d - (r - ra.Length)]
            let db = if d < r - rb.Length then 1 else rb[d - (r - rb.Length)]
            if da = db || db = 1 then dims[d] <- da
            elif da = 1 then dims[d] <- db
            else ok <- false
        if ok then ValueSome(Shape.Of dims) else ValueNone

/// The row-major stride of each output dimension in an argument of shape `arg` broadcast to `out`:
/// 0 where the argument repeats along that dimension.
let internal strides (out: Shape) (arg: Shape) =
    let o = out.Raw
    let a = arg.Raw
    let s = Array.zeroCreate o.Length
    let mutable step = 1
    for d in a.Length - 1 .. -1 .. 0 do
        let od = d + (o.Length - a.Length)
        s[od] <- (if a[d] = 1 then 0 else step)
        step <- step * a[d]
    s

/// Calls body k ia ib for every output element k in row-major order, ia and ib its offsets in
/// arguments of shapes sa and sb broadcast to `out`.
let inline internal walk (out: Shape) (sa: Shape) (sb: Shape) ([<InlineIfLambda>] body: int -> int -> int -> unit) =
    let dims = out.Raw
    let r = dims.Length
    if r = 0 then body 0 0 0
    else
        let ta = strides out sa
        let tb = strides out sb
        let n = dims[r - 1]
        let ia0 = ta[r - 1]
        let ib0 = tb[r - 1]
        let total = out.Count
        let index = Array.zeroCreate r
        let mutable ia = 0
        let mutable ib = 0
        let mutable k = 0
        while k < total do
            for j in 0 .. n - 1 do
                body (k + j) (ia + j * ia0) (ib + j * ib0)
            k <- k + n
            // The odometer over the outer dimensions.
            let mutable d = r - 2
            let mutable carry = true
            while carry && d >= 0 do
                index[d] <- index[d] + 1
                ia <- ia + ta[d]
                ib <- ib + tb[d]
                if index[d] = dims[d] then
                    ia <- ia - ta[d] * dims[d]
                    ib <- ib - tb[d] * dims[d]
                    index[d] <- 0
                    d <- d - 1
                else carry <- false

/// The binding to the system's OpenBLAS (`cblas_dgemm` from libopenblas.so.0), loaded at run time so
/// that a machine without it still runs, on the managed kernel.
module internal Adjoint.Kernels.Blas

open System
open System.Reflection
open System.Runtime.InteropServices

// CBLAS enums (cblas.h).
[<Literal>]
let RowMajor = 101

[<Literal>]
let NoTrans = 111

[<Literal>]
let Trans = 112

[<DllImport("adjoint-openblas", CallingConvention = CallingConvention.Cdecl)>]
extern void cblas_dgemm(
    int order, int transA, int transB, int m, int n, int k, double alpha,
    double[] a, int lda, double[] b, int ldb, double beta, double[] c, int ldc)

/// `cblas_dgemm` on pointers, for a matrix that starts inside an array (one matrix of a batch).
[<DllImport("adjoint-openblas", EntryPoint = "cblas_dgemm", CallingConvention = CallingConvention.Cdecl)>]
extern void cblas_dgemm_at(
    int order, int transA, int transB, int m, int n, int k, double alpha,
    nativeint a, int lda, nativeint b, int ldb, double beta, nativeint c, int ldc)

/// The loaded library, if any. "adjoint-openblas" is our own name, resolved here and nowhere else.
let handle =
    let mutable h = IntPtr.Zero
    let found =
        [ "libopenblas.so.0"; "libopenblas.so"; "libopenblas.dylib"; "libopenblas.dll" ]
        |> List.exists (fun name -> NativeLibrary.TryLoad(name, &h))
    if found && h <> IntPtr.Zero && (let mutable f = IntPtr.Zero in NativeLibrary.TryGetExport(h, "cblas_dgemm", &f)) then
        NativeLibrary.SetDllImportResolver(
            Assembly.GetExecutingAssembly(),
            DllImportResolver(fun name _ _ -> if name = "adjoint-openblas" then h else IntPtr.Zero))
        Some h
    else
        None

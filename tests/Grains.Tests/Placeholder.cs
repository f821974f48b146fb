namespace Adjoint.Grains.Tests; internal static class Placeholder { }

global using Xunit;
global using Adjoint;

// The live web view's settings: Adjoint:Dashboard:Port (--dashboard) and Adjoint:Dashboard:Address (--dashboard-address).
using System.Net;

namespace Adjoint.Host;

/// <summary>
/// The live web view the host serves beside its silo (off unless a port is given). It listens on
/// loopback unless <see cref="Address"/> says otherwise: it has no authentication of its own, so reach
/// it from elsewhere through an SSH tunnel or a proxy that has.
/// </summary>
public sealed class DashboardSettings
{
    /// <summary>The HTTP port of the web view; null (the default) serves none.</summary>
    public int? Port { get; set; }

    /// <summary>The address it listens on: an IP address, "localhost" (the default, 127.0.0.1) or "*" (every address).</summary>
    public string Address { get; set; } = "localhost";

    /// <summary>The address to listen on, or null when <see cref="Address"/> is none.</summary>
    public IPAddress? ListenAddress() => Address.Trim() switch
    {
        "localhost" => IPAddress.Loopback,
        "*" => IPAddress.Any,
        var text => IPAddress.TryParse(text, out var address) ? address : null,
    };

    /// <summary>What is wrong with these settings, or null.</summary>
    public string? Problem(int siloPort, int gatewayPort) => Port switch
    {
        null => null,
        <= 0 or > 65535 => $"dashboard port {Port} is not a valid port (--dashboard)",
        var p when p == siloPort || p == gatewayPort => $"the dashboard port {p} is the silo's or gateway's port; choose another (--dashboard)",
        _ when ListenAddress() is null => $"dashboard address '{Address}' is not an IP address, 'localhost' or '*' (--dashboard-address)",
        _ => null,
    };
}

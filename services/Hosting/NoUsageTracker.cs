using MassTransit;
using MassTransit.UsageTracking;

namespace BigDataAI.Hosting;

/// <summary>
/// Replaces MassTransit's usage tracker, which five minutes after the bus starts posts a usage report to a host on
/// the internet unless told not to (and which the environment variable <c>MASSTRANSIT_USAGE_TELEMETRY</c> can turn
/// back on). With this one nothing is collected or sent, whatever the environment says: a BigDataAI service reaches
/// only the addresses its configuration names.
/// </summary>
internal sealed class NoUsageTracker : IUsageTracker
{
    public void PreConfigureBus<T>(T configurator, IBusRegistrationContext context) where T : IBusFactoryConfigurator
    {
    }

    public void PreConfigureRider<T>(T configurator) where T : IRiderFactoryConfigurator
    {
    }
}

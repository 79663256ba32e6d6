// Package boot pulls in the dubbo-go v3 extensions the demo needs (instead
// of dubbo.apache.org/dubbo-go/v3/imports, which drags in zookeeper, nacos,
// etcd, polaris, xds, grpc, ...) and builds the shared root-config pieces.
package boot

import (
	"dubbo.apache.org/dubbo-go/v3/common/constant"
	"dubbo.apache.org/dubbo-go/v3/config"

	// dubbo (Dubbo 2 / hessian2) protocol, client and server
	_ "dubbo.apache.org/dubbo-go/v3/protocol/dubbo"
	// default proxy factory (Go struct <-> invocation)
	_ "dubbo.apache.org/dubbo-go/v3/proxy/proxy_factory"
	// clusters and load balance used for the direct-URL reference
	_ "dubbo.apache.org/dubbo-go/v3/cluster/cluster/failfast"
	_ "dubbo.apache.org/dubbo-go/v3/cluster/cluster/failover"
	_ "dubbo.apache.org/dubbo-go/v3/cluster/loadbalance/random"
	// filters named by constant.DefaultServiceFilters / DefaultReferenceFilters,
	// except "metrics" (see ServiceFilters)
	_ "dubbo.apache.org/dubbo-go/v3/filter/accesslog"
	_ "dubbo.apache.org/dubbo-go/v3/filter/echo"
	_ "dubbo.apache.org/dubbo-go/v3/filter/exec_limit"
	_ "dubbo.apache.org/dubbo-go/v3/filter/generic"
	_ "dubbo.apache.org/dubbo-go/v3/filter/graceful_shutdown"
	_ "dubbo.apache.org/dubbo-go/v3/filter/token"
	_ "dubbo.apache.org/dubbo-go/v3/filter/tps"
	_ "dubbo.apache.org/dubbo-go/v3/filter/tps/limiter"
	_ "dubbo.apache.org/dubbo-go/v3/filter/tps/strategy"
	// config.MetricConfig.Init panics without the "prometheus" reporter
	_ "dubbo.apache.org/dubbo-go/v3/metrics/prometheus"
)

// ServiceFilters is constant.DefaultServiceFilters without "metrics": the
// metrics filter always starts a prometheus HTTP server on :9090 (its
// reporter ignores the metric config), so two providers on one host would
// clash. None of these filters changes what goes on the wire.
const ServiceFilters = constant.EchoFilterKey + "," + constant.TokenFilterKey + "," +
	constant.AccessLogFilterKey + "," + constant.TpsLimitFilterKey + "," +
	constant.GenericServiceFilterKey + "," + constant.ExecuteLimitFilterKey + "," +
	constant.GracefulShutdownProviderFilterKey

// Logger returns a logger config writing to stderr at the given level
// ("debug", "info", "warn", "error"), so stdout stays free for the programs'
// own output.
func Logger(level string) *config.LoggerConfig {
	lc := config.NewLoggerConfigBuilder().Build()
	lc.ZapConfig.Level = level
	lc.ZapConfig.OutputPaths = []string{"stderr"}
	lc.ZapConfig.ErrorOutputPaths = []string{"stderr"}
	lc.ZapConfig.EncoderConfig.EncodeLevel = "capital" // no ANSI colours in logs
	return lc
}

// Metric returns a metric config that does not open the prometheus pull
// endpoint (dubbo-go enables it on :9090 by default, which would make two
// processes on one host clash). "push" mode has no server in v3.0.5.
func Metric() *config.MetricConfig {
	mc := config.NewMetricConfigBuilder().Build()
	mc.Mode = "push"
	return mc
}

// Shutdown disables dubbo-go's own signal handler (it waits several seconds
// and exits from a goroutine); the programs handle SIGINT/SIGTERM themselves.
func Shutdown() *config.ShutdownConfig {
	f := false
	return &config.ShutdownConfig{
		Timeout:                "3s",
		StepTimeout:            "1s",
		ConsumerUpdateWaitTime: "0s",
		InternalSignal:         &f,
	}
}

// Application returns an application config with the given name.
func Application(name string) *config.ApplicationConfig {
	return config.NewApplicationConfigBuilder().SetName(name).SetModule(name).Build()
}

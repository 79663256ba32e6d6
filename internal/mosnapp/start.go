package mosnapp

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/urfave/cli"

	"github.com/meshproto/meshproto/internal/rdsready"
	"mosn.io/mosn/istio/istio1106"
	admin "mosn.io/mosn/pkg/admin/server"
	v2 "mosn.io/mosn/pkg/config/v2"
	"mosn.io/mosn/pkg/configmanager"
	"mosn.io/mosn/pkg/featuregate"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/metrics"
	"mosn.io/mosn/pkg/mosn"
	"mosn.io/mosn/pkg/protocol/xprotocol"
	"mosn.io/mosn/pkg/server"
	"mosn.io/mosn/pkg/stagemanager"
	xstream "mosn.io/mosn/pkg/stream/xprotocol"
	"mosn.io/pkg/buffer"
)

var startFlags = []cli.Flag{
	cli.StringFlag{Name: "config, c", Usage: "load configuration from `FILE`", EnvVar: "MOSN_CONFIG", Value: "configs/mosn_config.json"},
	cli.StringFlag{Name: "log-level, l", Usage: "trace|debug|info|warning|error|critical|off", EnvVar: "LOG_LEVEL"},
	cli.StringFlag{Name: "feature-gates, f", Usage: "feature gates", EnvVar: "FEATURE_GATES"},
	cli.IntFlag{Name: "drain-time-s", Usage: "seconds to drain connections", Value: 600},
	// Istio sidecar flags: the node identity sent to the xDS server.
	cli.StringFlag{Name: "service-cluster, s", Usage: "sidecar service cluster", EnvVar: "SERVICE_CLUSTER"},
	cli.StringFlag{Name: "service-node, n", Usage: "sidecar service node", EnvVar: "SERVICE_NODE"},
	cli.StringFlag{Name: "service-type, p", Usage: "sidecar service type", EnvVar: "SERVICE_TYPE"},
	cli.StringSliceFlag{Name: "service-meta, sm", Usage: "sidecar service metadata", EnvVar: "SERVICE_META"},
	cli.StringSliceFlag{Name: "service-lables, sl", Usage: "sidecar service metadata labels", EnvVar: "SERVICE_LAB"},
	cli.StringSliceFlag{Name: "cluster-domain, domain", Usage: "cluster domain", EnvVar: "CLUSTER_DOMAIN"},
	cli.StringFlag{Name: "pod-namespace, pns", EnvVar: "POD_NAMESPACE"},
	cli.StringFlag{Name: "pod-name, pn", EnvVar: "POD_NAME"},
	cli.StringFlag{Name: "pod-ip, pi", EnvVar: "POD_IP"},
}

var logLevels = map[string]string{
	"trace": "TRACE", "debug": "DEBUG", "info": "INFO", "warning": "WARN",
	"error": "ERROR", "critical": "FATAL", "off": "OFF",
}

// start runs MOSN's stages: parameters, init, pre-start, start. Stock
// MOSN's main does the same; the differences are the registrations and the
// version reporting.
func start(c *cli.Context, o Options) error {
	if _, err := os.Stat(c.String("config")); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := checkPlugins(c.String("config")); err != nil {
		return err
	}
	app := mosn.NewMosn()
	stm := stagemanager.InitStageManager(c, c.String("config"), app)
	stm.AppendParamsParsedStage(func(*cli.Context) {
		// The xprotocol stream layer first: codecs, static or from a
		// plugin's LoadCodec, register into it.
		newFactory := xstream.NewStreamFactory
		if o.StreamFactory != nil {
			newFactory = o.StreamFactory(newFactory)
		}
		xprotocol.RegisterXProtocolAction(xstream.NewConnPool, newFactory, nil)
		// Connections accepted between Istio's LDS and RDS pushes route
		// once the routes come (MOSN alone keeps them routeless).
		rdsready.Register()
		if o.Register != nil {
			o.Register()
		}
	})
	stm.AppendParamsParsedStage(func(c *cli.Context) { applyFlags(c) })
	stm.AppendInitStage(func(cfg *v2.MOSNConfig) {
		server.SetDrainTime(time.Duration(c.Int("drain-time-s")) * time.Second)
		initXDS(c, cfg)
	})
	if o.Configure != nil {
		dir := filepath.Dir(c.String("config"))
		stm.AppendInitStage(func(cfg *v2.MOSNConfig) { o.Configure(cfg, dir) })
	}
	stm.AppendInitStage(mosn.DefaultInitStage)
	stm.AppendInitStage(func(*v2.MOSNConfig) {
		metrics.SetVersion(o.Version)
		metrics.SetGoVersion(runtime.Version())
		admin.SetVersion(VersionLine(o))
	})
	stm.AppendPreStartStage(mosn.DefaultPreStartStage)
	stm.AppendStartStage(mosn.DefaultStartStage)
	stm.RunAll()
	return nil
}

func applyFlags(c *cli.Context) {
	if lvl, ok := logLevels[c.String("log-level")]; ok {
		if lvl == "OFF" {
			log.GetErrorLoggerManagerInstance().Disable()
		} else {
			log.GetErrorLoggerManagerInstance().SetLogLevelControl(configmanager.ParseLogLevel(lvl))
		}
	}
	if err := featuregate.Set(c.String("feature-gates")); err != nil {
		log.StartLogger.Errorf("[meshproto] bad --feature-gates: %v", err)
		os.Exit(1)
	}
	buffer.SetLogFunc(func(msg string) {
		log.DefaultLogger.Errorf("[iobuffer] %s", msg)
	})
}

// initXDS gives the xDS client the node identity Istio expects; without a
// service node MOSN runs from its static config only.
func initXDS(c *cli.Context, cfg *v2.MOSNConfig) {
	cluster, node := c.String("service-cluster"), c.String("service-node")
	meta, labels := c.StringSlice("service-meta"), c.StringSlice("service-lables")
	if node == "" && istio1106.IsApplicationNodeType(c.String("service-type")) {
		node = fmt.Sprintf("%s~%s~%s.%s~%s", c.String("service-type"), c.String("pod-ip"),
			c.String("pod-name"), c.String("pod-namespace"), c.StringSlice("cluster-domain"))
	}
	if node == "" {
		istio1106.InitXdsInfo(cfg, "", "", nil, nil)
		return
	}
	istio1106.InitXdsInfo(cfg, cluster, node, meta, labels)
}

// Command registry-adapter turns a Dubbo ZooKeeper registry into sidecar
// configuration: it watches the providers and dubbo-admin rules under
// /dubbo and serves every meshproto MOSN (build/mosn) the routes,
// clusters and endpoints over ADS, the same configuration to each.
// Providers register the address of their own sidecar (dubbo-go:
// DUBBO_IP_TO_REGISTRY / DUBBO_PORT_TO_REGISTRY) or use the registration
// API; consumers call their local sidecar and never see the registry.
//
//	registry-adapter -zookeeper 127.0.0.1:2181 -xds 127.0.0.1:15010 \
//	    -http 127.0.0.1:15020 -listen 127.0.0.1:20881
//
// HTTP (-http): /metrics (Prometheus), /healthz, /registry (what is
// routed, JSON), and with -register-address the registration API
// /pub /unpub /sub /unsub (MOSN dubbod's JSON bodies). With -mcp the same
// registry is served to a real istiod as Istio resources over
// MCP-over-xDS (and with -istio-yaml written as YAML), so that istiod
// configures the sidecars.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshproto/meshproto/internal/adapter"
	"github.com/meshproto/meshproto/internal/controlplane"
	"github.com/meshproto/meshproto/internal/dubboreg"
	"github.com/meshproto/meshproto/internal/dubboxds"
	"github.com/meshproto/meshproto/internal/istiomcp"
	"github.com/meshproto/meshproto/internal/zkregister"
	"github.com/meshproto/meshproto/internal/zkwatch"
)

func main() {
	zkServers := flag.String("zookeeper", "127.0.0.1:2181", "ZooKeeper servers, comma-separated host:port")
	root := flag.String("root", "/dubbo", "Dubbo's registry root in ZooKeeper")
	xdsAddr := flag.String("xds", "127.0.0.1:15010", "where to serve ADS (the sidecars' xds-grpc cluster)")
	httpAddr := flag.String("http", "127.0.0.1:15020", "metrics, health, registry view and registration API")
	listen := flag.String("listen", "127.0.0.1:20881", "the consumer-side listener every sidecar gets over LDS")
	timeout := flag.Duration("timeout", 5*time.Second, "route timeout of every call (0: MOSN's default)")
	retries := flag.Uint("retries", 2, "retries of a call on another provider (connect failure, reset, server-side error), "+
		"as Dubbo's failover cluster; for services whose providers advertise none (0: connect failures only)")
	debounce := flag.Duration("debounce", 100*time.Millisecond, "wait this long after a registry change before pushing (changes meanwhile go in the same push)")
	session := flag.Duration("session-timeout", 10*time.Second, "ZooKeeper session timeout")
	holdDown := flag.Duration("removal-delay", time.Second, "keep routing to a provider whose node disappeared for this long, unless it is back by then (dubbo-go re-registers by delete and create after a ZooKeeper outage)")
	regAddr := flag.String("register-address", "", "ip:port written into provider URLs by /pub (the provider sidecar's inbound listener); empty: no registration API")
	mcpAddr := flag.String("mcp", "", "also serve the registry as Istio ServiceEntry/WorkloadEntry/DestinationRule/VirtualService over MCP-over-xDS here (istiod mesh config: configSources: [{address: \"xds://ADDR\"}])")
	istioYAML := flag.String("istio-yaml", "", "also write those Istio resources to this YAML file on every change")
	istioNS := flag.String("istio-namespace", "default", "namespace of the Istio resources")
	app := flag.String("application", "meshproto-sidecar", "application name in URLs written by the registration API")
	flag.Parse()

	logger := log.New(os.Stderr, "registry-adapter ", log.LstdFlags|log.Lmicroseconds)
	if err := run(logger, config{
		servers: strings.Split(*zkServers, ","), root: *root, xds: *xdsAddr, http: *httpAddr, listen: *listen,
		timeout: *timeout, retries: uint32(min(*retries, dubboreg.MaxRetries)), debounce: *debounce, session: *session, holdDown: *holdDown, regAddr: *regAddr, app: *app,
		mcp: *mcpAddr, istioYAML: *istioYAML, istioNS: *istioNS,
	}); err != nil {
		logger.Fatal(err)
	}
}

type config struct {
	servers                      []string
	root, xds, http, listen, app string
	regAddr                      string
	mcp, istioYAML, istioNS      string
	timeout, debounce, session   time.Duration
	holdDown                     time.Duration
	retries                      uint32
}

func run(logger *log.Logger, c config) error {
	host, portText, err := net.SplitHostPort(c.listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", c.listen, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return fmt.Errorf("-listen %q: bad port", c.listen)
	}
	cp, err := controlplane.StartShared(c.xds)
	if err != nil {
		return fmt.Errorf("-xds %s: %w", c.xds, err)
	}
	defer cp.Close()
	a := adapter.New(cp, dubboxds.Options{ListenHost: host, ListenPort: uint32(port), Timeout: c.timeout, Retries: c.retries}, c.holdDown, logger.Printf)

	if c.mcp != "" || c.istioYAML != "" {
		out := &adapter.IstioOutput{YAMLFile: c.istioYAML, Options: istiomcp.Options{Namespace: c.istioNS, ServicePort: uint32(port)}}
		if c.mcp != "" {
			srv, err := istiomcp.Start(c.mcp, logger.Printf)
			if err != nil {
				return fmt.Errorf("-mcp %s: %w", c.mcp, err)
			}
			defer srv.Close()
			out.MCP = srv
			logger.Printf("serving Istio resources over MCP on %s", srv.Addr())
		}
		a.SetIstio(out)
	}
	if c.regAddr != "" {
		reg, err := zkregister.Start(c.servers, c.root, c.app, c.regAddr, c.session, logger.Printf)
		if err != nil {
			return err
		}
		// Unregister on the way out: consumers stop calling at once
		// rather than after the session timeout.
		defer reg.Close()
		a.SetRegistrar(reg)
	}
	w, err := zkwatch.Start(zkwatch.Config{Servers: c.servers, Root: c.root, SessionTimeout: c.session, Debounce: c.debounce,
		OnChange: a.OnChange, Logf: logger.Printf})
	if err != nil {
		return err
	}
	defer w.Close()
	a.SetWatcher(w)

	ln, err := net.Listen("tcp", c.http)
	if err != nil {
		return fmt.Errorf("-http %s: %w", c.http, err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Printf("http: %v", err)
		}
	}()
	logger.Printf("serving ADS on %s, HTTP on %s, sidecar listener %s, ZooKeeper %v%s",
		cp.Addr(), ln.Addr(), c.listen, c.servers, map[bool]string{true: ", registration API for " + c.regAddr}[c.regAddr != ""])

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	logger.Printf("stopping")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	return nil
}

// Command provider is a demo Dubbo 2 provider built on internal/dubbopeer.
//
// It serves org.meshproto.demo.GreetingService (greet, echo, sleep, fail)
// and org.meshproto.demo.OrderService (place), prints "ready <addr>" on
// stdout once listening and logs one line per request to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

const (
	greetingService = "org.meshproto.demo.GreetingService"
	orderService    = "org.meshproto.demo.OrderService"
)

type provider struct {
	instance string
	version  string
	group    string
	respAtt  bool
	port     string
	logger   *log.Logger
}

var methods = map[string][]string{
	greetingService: {"echo", "fail", "greet", "sleep"},
	orderService:    {"place"},
}

func main() {
	listen := flag.String("listen", "127.0.0.1:20880", "address to listen on")
	instance := flag.String("instance", "provider-1", "instance name reported in replies")
	version := flag.String("version", "1.0.0", "service version exported")
	group := flag.String("group", "", "service group exported (requests with another non-empty group are rejected when set)")
	respAtt := flag.Bool("response-attachments", true, "send response attachments (instance, version), i.e. response types 3/4/5 like Java Dubbo 2.7")
	flag.Parse()

	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		logger.Fatalf("listen %s: %v", *listen, err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p := &provider{instance: *instance, version: *version, group: *group, respAtt: *respAtt, port: port, logger: logger}

	srv := dubbopeer.NewServer(p.handle, dubbopeer.WithServerLogger(logger), dubbopeer.WithOnewayHandler())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("ready %s\n", ln.Addr())
	logger.Printf("%s: serving %s and %s version=%q group=%q on %s", p.instance, greetingService, orderService, p.version, p.group, ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
		logger.Printf("%s: shutting down (requests=%d oneways=%d heartbeats=%d)", p.instance, srv.Requests(), srv.Oneways(), srv.Heartbeats())
		srv.Close()
		<-served
	case err := <-served:
		if err != nil && !errors.Is(err, dubbopeer.ErrServerClosed) {
			logger.Fatalf("serve: %v", err)
		}
	}
}

func (p *provider) handle(ctx context.Context, req *dubbopeer.ServerRequest) *dubbopeer.ServerResponse {
	start := time.Now()
	resp := p.dispatch(req)
	outcome := "ok"
	switch {
	case resp.Status != 0 && resp.Status != dubbopeer.StatusOK:
		outcome = fmt.Sprintf("status=%d", resp.Status)
	case resp.Exception != "":
		outcome = "exception"
	}
	kind := "twoway"
	if !req.TwoWay {
		kind = "oneway"
	}
	p.logger.Printf("%s: id=%d %s from=%s %s:%s#%s(%s) group=%q attachments=%s -> %s (%v)",
		p.instance, req.RequestID, kind, req.RemoteAddr, req.Service, req.Version, req.Method,
		req.ParamTypes, req.Group(), formatAttachments(req.Attachments), outcome, time.Since(start)+resp.Delay)
	if p.respAtt && (resp.Status == 0 || resp.Status == dubbopeer.StatusOK) {
		resp.Attachments = map[string]string{"instance": p.instance, "provider.version": p.version}
	}
	return resp
}

func (p *provider) dispatch(req *dubbopeer.ServerRequest) *dubbopeer.ServerResponse {
	ms, known := methods[req.Service]
	versionOK := req.Version == "" || req.Version == "*" || req.Version == p.version
	groupOK := p.group == "" || req.Group() == p.group
	if !known || !versionOK || !groupOK {
		key := req.Service
		if g := req.Group(); g != "" {
			key = g + "/" + key
		}
		if req.Version != "" {
			key += ":" + req.Version
		}
		exported := []string{}
		for s := range methods {
			k := s + ":" + p.version
			if p.group != "" {
				k = p.group + "/" + k
			}
			exported = append(exported, k+":"+p.port)
		}
		sort.Strings(exported)
		return &dubbopeer.ServerResponse{
			Status: dubbopeer.StatusServiceError,
			ErrorMessage: fmt.Sprintf("org.apache.dubbo.remoting.RemotingException: Not found exported service: %s:%s in [%s], may be version or group mismatch, channel: consumer: %s --> provider: %s (instance %s), message:RpcInvocation [methodName=%s, parameterTypesDesc=%s]",
				key, p.port, strings.Join(exported, ", "), req.RemoteAddr, p.port, p.instance, req.Method, req.ParamTypes),
		}
	}
	if !contains(ms, req.Method) {
		return &dubbopeer.ServerResponse{
			Status: dubbopeer.StatusServiceError,
			ErrorMessage: fmt.Sprintf("org.apache.dubbo.rpc.RpcException: Not found method \"%s\" in service %s (instance %s), available methods: %s",
				req.Method, req.Service, p.instance, strings.Join(ms, ", ")),
		}
	}
	arg := func() interface{} {
		if len(req.Args) > 0 {
			return req.Args[0]
		}
		return nil
	}
	switch req.Method {
	case "greet":
		return &dubbopeer.ServerResponse{Value: p.reply(req, fmt.Sprintf("hello %v", str(arg())))}
	case "echo":
		return &dubbopeer.ServerResponse{Value: arg()}
	case "sleep":
		ms, ok := toInt(arg())
		if !ok || ms < 0 || ms > 60000 {
			return &dubbopeer.ServerResponse{Exception: fmt.Sprintf("sleep: bad duration %v", arg()),
				ExceptionClass: "java.lang.IllegalArgumentException"}
		}
		return &dubbopeer.ServerResponse{
			Value: p.reply(req, fmt.Sprintf("slept %dms", ms)),
			Delay: time.Duration(ms) * time.Millisecond,
		}
	case "fail":
		return &dubbopeer.ServerResponse{Exception: fmt.Sprintf("%s (thrown by %s)", str(arg()), p.instance)}
	case "place":
		return &dubbopeer.ServerResponse{Value: p.reply(req, fmt.Sprintf("placed order for %v", str(arg())))}
	}
	return &dubbopeer.ServerResponse{Status: dubbopeer.StatusServiceError, ErrorMessage: "unreachable"}
}

func (p *provider) reply(req *dubbopeer.ServerRequest, message string) map[string]interface{} {
	att := make(map[string]string, len(req.Attachments))
	for k, v := range req.Attachments {
		att[k] = v
	}
	m := map[string]interface{}{
		"message":     message,
		"instance":    p.instance,
		"version":     p.version,
		"service":     req.Service,
		"method":      req.Method,
		"attachments": att,
	}
	if p.group != "" {
		m["group"] = p.group
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func str(v interface{}) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}

func toInt(v interface{}) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}

func formatAttachments(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(parts, ",") + "}"
}

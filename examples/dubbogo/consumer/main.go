// Command consumer is a dubbo-go v3 consumer of org.meshproto.demo.UserProvider
// over the dubbo protocol (hessian2), using a direct URL and no registry.
//
//	consumer -url dubbo://127.0.0.1:20890 -version 1.0.0 -n 10 -attach x-tag=gray
//	consumer -fail
//
// Each call prints one JSON line on stdout; framework logs go to stderr.
// Exit code 0 when every call succeeded (with -fail: every call returned an
// error), 1 otherwise.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"dubbo.apache.org/dubbo-go/v3/common/constant"
	"dubbo.apache.org/dubbo-go/v3/config"
	"github.com/apache/dubbo-go-hessian2/java_exception"

	"github.com/meshproto/meshproto/examples/dubbogo/api"
	"github.com/meshproto/meshproto/examples/dubbogo/internal/boot"
)

// UserProviderClient is the consumer-side proxy; dubbo-go fills the func
// fields. The `dubbo` tags give the Java-style wire method names.
type UserProviderClient struct {
	GetUser func(ctx context.Context, req *api.UserRequest) (*api.User, error) `dubbo:"getUser"`
	Fail    func(ctx context.Context, msg string) (string, error)              `dubbo:"fail"`
}

// Reference names the reference config this client is bound to.
func (*UserProviderClient) Reference() string { return "UserProviderClient" }

type kvFlag []string

func (f *kvFlag) String() string { return strings.Join(*f, ",") }
func (f *kvFlag) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("want k=v, got %q", v)
	}
	*f = append(*f, v)
	return nil
}

type line struct {
	Call   int       `json:"call"`
	OK     bool      `json:"ok"`
	User   *api.User `json:"user,omitempty"`
	Result *string   `json:"result,omitempty"`
	Error  string    `json:"error,omitempty"`
	// Exception is true when the error came back as a Dubbo exception
	// response body (a hessian java.lang.Throwable from the provider), false
	// for transport errors, timeouts and non-20 response statuses.
	Exception bool  `json:"exception,omitempty"`
	Millis    int64 `json:"ms"`
}

// failMarker is part of every error returned by the provider's fail().
const failMarker = "failed on purpose"

// load runs config.Load, turning dubbo-go's panic on an unreachable direct
// URL (nil invoker after two 3s connect attempts) into an error.
func load(root *config.RootConfig, url string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot connect to %s (dubbo-go refer panicked: %s)", url, firstLine(r))
		}
	}()
	return config.Load(config.WithRootConfig(root))
}

func main() {
	url := flag.String("url", "dubbo://127.0.0.1:20890", "direct provider URL(s), ';'-separated")
	version := flag.String("version", "1.0.0", "reference version")
	group := flag.String("group", "", "reference group (empty: none)")
	n := flag.Int("n", 10, "number of calls")
	timeout := flag.Duration("timeout", 3*time.Second, "request timeout")
	fail := flag.Bool("fail", false, "call fail() instead of getUser(); success means every call got the provider's \"failed on purpose\" exception")
	interval := flag.Duration("interval", 0, "pause between calls")
	id := flag.String("id", "42", "UserRequest.id (call index is appended when -n > 1)")
	conns := flag.Int("conns", 16, "TCP connections the getty client pool opens per provider address (dubbo-go default 16; opened gradually, 0.3s*k apart)")
	heartbeat := flag.Duration("heartbeat", 30*time.Second, "client heartbeat period on each connection (dubbo-go default 30s)")
	logLevel := flag.String("log-level", "error", "dubbo-go log level (debug, info, warn, error); logs go to stderr")
	var attach kvFlag
	flag.Var(&attach, "attach", "attachment k=v sent with every call (repeatable)")
	flag.Parse()

	client := &UserProviderClient{}
	config.SetConsumerService(client)

	ref := config.NewReferenceConfigBuilder().
		SetInterface(api.Interface).
		SetProtocol("dubbo").
		SetSerialization("hessian2").
		SetURL(*url).
		SetVersion(*version).
		SetGroup(*group).
		SetCluster("failfast"). // no retries: one call = one request on the wire
		SetRequestTimeout(timeout.String()).
		Build()
	// The getty client reads its settings from the "dubbo" protocol's params.
	protocol := config.NewProtocolConfigBuilder().
		SetName("dubbo").
		SetParams(map[string]interface{}{
			"connection-number": *conns,
			"heartbeat-period":  heartbeat.String(),
		}).
		Build()
	root := config.NewRootConfigBuilder().
		SetApplication(boot.Application("meshproto-dubbogo-consumer")).
		AddProtocol("dubbo", protocol).
		SetLogger(boot.Logger(*logLevel)).
		SetMetric(boot.Metric()).
		SetShutdown(boot.Shutdown()).
		SetConsumer(config.NewConsumerConfigBuilder().
			SetRequestTimeout(timeout.String()).
			AddReference("UserProviderClient", ref).
			Build()).
		Build()
	enc := json.NewEncoder(os.Stdout)
	if err := load(root, *url); err != nil {
		fmt.Fprintf(os.Stderr, "consumer: %v\n", err)
		for i := 0; i < *n; i++ {
			_ = enc.Encode(&line{Call: i, Error: err.Error()})
		}
		os.Exit(1)
	}

	atts := map[string]interface{}{}
	for _, kv := range attach {
		k, v, _ := strings.Cut(kv, "=")
		atts[k] = v
	}

	good := 0
	for i := 0; i < *n; i++ {
		if i > 0 && *interval > 0 {
			time.Sleep(*interval)
		}
		ctx := context.Background()
		if len(atts) > 0 {
			m := make(map[string]interface{}, len(atts)) // fresh map: the framework may mutate it
			for k, v := range atts {
				m[k] = v
			}
			ctx = context.WithValue(ctx, constant.AttachmentKey, m)
		}
		l := line{Call: i}
		start := time.Now()
		var err error
		if *fail {
			var res string
			res, err = client.Fail(ctx, "call "+strconv.Itoa(i))
			if err == nil {
				l.Result = &res
			}
		} else {
			reqID := *id
			if *n > 1 {
				reqID += "-" + strconv.Itoa(i)
			}
			req := &api.UserRequest{ID: reqID, Tags: []string{"t" + strconv.Itoa(i)}, Meta: map[string]string{"call": strconv.Itoa(i)}}
			l.User, err = client.GetUser(ctx, req)
		}
		l.Millis = time.Since(start).Milliseconds()
		if err != nil {
			l.Error = err.Error()
			_, l.Exception = err.(java_exception.Throwabler)
			l.User = nil
		} else {
			l.OK = true
		}
		if *fail {
			// expected: the provider's own exception, not a timeout/transport error
			if !l.OK && l.Exception && strings.Contains(l.Error, failMarker) {
				good++
			}
		} else if l.OK {
			good++
		}
		if e := enc.Encode(&l); e != nil {
			fmt.Fprintf(os.Stderr, "consumer: write: %v\n", e)
			os.Exit(1)
		}
	}
	if good != *n {
		os.Exit(1)
	}
	os.Exit(0)
}

// firstLine returns the first line of a panic value (getty errors carry a
// multi-line stack trace).
func firstLine(v interface{}) string {
	s, _, _ := strings.Cut(fmt.Sprint(v), "\n")
	return s
}

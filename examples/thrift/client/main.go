// Command client is a demo Apache Thrift client (Go, apache/thrift v0.17.0)
// for idl/demo.thrift. It makes -n sequential calls on one connection and
// prints one JSON line per call on stdout. It exits 1 on transport (or
// protocol) errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/meshproto/meshproto/examples/thrift/gen-go/demo"
)

// Result is the JSON line printed per call (same format as client.py).
type Result struct {
	Call             int               `json:"call"`
	OK               bool              `json:"ok"`
	Method           string            `json:"method"`
	Message          string            `json:"message,omitempty"`
	Instance         string            `json:"instance,omitempty"`
	Version          string            `json:"version,omitempty"`
	Headers          map[string]string `json:"headers,omitempty"`
	ReplyHeaders     map[string]string `json:"reply_headers,omitempty"`
	Result           *int64            `json:"result,omitempty"`
	Error            string            `json:"error,omitempty"`
	Exception        string            `json:"exception,omitempty"`
	AppExceptionType *int32            `json:"app_exception_type,omitempty"`
	Code             *int32            `json:"code,omitempty"`
	ElapsedMs        float64           `json:"elapsed_ms"`
}

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ",") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

var methodService = map[string]string{
	"greet": "Greeter", "notify": "Greeter", "echo": "Greeter", "sleepMs": "Greeter",
	"add": "Calculator", "divide": "Calculator",
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "server address")
	transport := flag.String("transport", "framed", "framed|buffered|header")
	protocol := flag.String("protocol", "binary", "binary|compact (for header: the protocol id inside THeader)")
	binaryStrict := flag.Bool("binary-strict", true, "binary: strict read/write; false writes old non-strict messages (no version word)")
	multiplex := flag.Bool("multiplex", false, `wrap the protocol in TMultiplexedProtocol ("<service>:<method>")`)
	service := flag.String("service", "", "Greeter|Calculator (default: the service that owns -method)")
	method := flag.String("method", "greet", "greet|echo|notify|sleepMs (Greeter) or add|divide (Calculator)")
	name := flag.String("name", "world", `greet: GreetRequest.name ("boom" -> GreetError, "panic" -> TApplicationException INTERNAL_ERROR); echo/notify: the string sent`)
	a := flag.Int64("a", 6, "add/divide: a")
	b := flag.Int64("b", 3, "add/divide: b")
	ms := flag.Int("ms", 100, "sleepMs: milliseconds")
	n := flag.Int("n", 1, "number of sequential calls on one connection")
	timeout := flag.Duration("timeout", 5*time.Second, "connect and socket read/write timeout")
	linger := flag.Int("linger-ms", 0, "keep the connection open this long after the last call (oneway messages still in a proxy are dropped when the client closes)")
	var headers headerFlags
	flag.Var(&headers, "header", "k=v THeader write header (repeatable; only with -transport header)")
	flag.Parse()

	svc := *service
	if svc == "" {
		svc = methodService[*method]
		if svc == "" {
			fatalf("unknown -method %q", *method)
		}
	}
	writeHeaders := map[string]string{}
	for _, kv := range headers {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fatalf("-header %q: want k=v", kv)
		}
		writeHeaders[k] = v
	}
	if len(writeHeaders) > 0 && *transport != "header" {
		fatalf("-header needs -transport header")
	}

	cfg := &thrift.TConfiguration{
		ConnectTimeout:     *timeout,
		SocketTimeout:      *timeout,
		TBinaryStrictRead:  thrift.BoolPtr(*binaryStrict),
		TBinaryStrictWrite: thrift.BoolPtr(*binaryStrict),
	}
	switch *protocol {
	case "binary":
		cfg.THeaderProtocolID = thrift.THeaderProtocolIDPtrMust(thrift.THeaderProtocolBinary)
	case "compact":
		cfg.THeaderProtocolID = thrift.THeaderProtocolIDPtrMust(thrift.THeaderProtocolCompact)
	default:
		fatalf("unknown -protocol %q (binary|compact)", *protocol)
	}

	sock := thrift.NewTSocketConf(*addr, cfg)
	var trans thrift.TTransport
	var proto thrift.TProtocol
	var headerProto *thrift.THeaderProtocol
	switch *transport {
	case "framed":
		trans = thrift.NewTFramedTransportConf(sock, cfg)
	case "buffered":
		trans = thrift.NewTBufferedTransport(sock, 8192)
	case "header":
		trans = thrift.NewTHeaderTransportConf(sock, cfg)
		headerProto = thrift.NewTHeaderProtocolConf(trans, cfg)
		proto = headerProto
	default:
		fatalf("unknown -transport %q (framed|buffered|header)", *transport)
	}
	if proto == nil {
		if *protocol == "binary" {
			proto = thrift.NewTBinaryProtocolConf(trans, cfg)
		} else {
			proto = thrift.NewTCompactProtocolConf(trans, cfg)
		}
	}
	if *multiplex {
		proto = thrift.NewTMultiplexedProtocol(proto, svc)
	}

	if err := trans.Open(); err != nil {
		emit(Result{Call: 1, Method: *method, Error: err.Error(), Exception: "transport"})
		os.Exit(1)
	}
	defer trans.Close()

	tc := thrift.NewTStandardClient(proto, proto)
	greeter := demo.NewGreeterClient(tc)
	calc := demo.NewCalculatorClient(tc)

	exit := 0
	for i := 1; i <= *n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		if len(writeHeaders) > 0 {
			keys := make([]string, 0, len(writeHeaders))
			for k, v := range writeHeaders {
				ctx = thrift.SetHeader(ctx, k, v)
				keys = append(keys, k)
			}
			ctx = thrift.SetWriteHeaderList(ctx, keys)
		}
		if headerProto != nil && *multiplex {
			// TStandardClient only applies context write headers when the
			// output protocol *is* a *THeaderProtocol; a TMultiplexedProtocol
			// wrapper hides it, so set them on the THeaderProtocol directly.
			headerProto.ClearWriteHeaders()
			for k, v := range writeHeaders {
				headerProto.SetWriteHeader(k, v)
			}
		}

		r := Result{Call: i, Method: *method}
		start := time.Now()
		var err error
		switch svc + "." + *method {
		case "Greeter.greet":
			var rep *demo.GreetReply
			rep, err = greeter.Greet(ctx, &demo.GreetRequest{
				Name: *name,
				Meta: map[string]string{"call": fmt.Sprint(i), "lang": "go"},
				Nums: []int64{int64(i), 2, 3},
			})
			if err == nil {
				r.Message, r.Instance, r.Version, r.Headers = rep.GetMessage(), rep.GetInstance(), rep.GetVersion(), rep.GetHeaders()
			}
		case "Greeter.echo":
			var s string
			s, err = greeter.Echo(ctx, *name)
			r.Message = s
		case "Greeter.notify":
			err = greeter.Notify(ctx, *name)
		case "Greeter.sleepMs":
			var v int32
			v, err = greeter.SleepMs(ctx, int32(*ms))
			r.Result = ptr(int64(v))
		case "Calculator.add":
			var v int64
			v, err = calc.Add(ctx, *a, *b)
			r.Result = ptr(v)
		case "Calculator.divide":
			var v int64
			v, err = calc.Divide(ctx, *a, *b)
			r.Result = ptr(v)
		default:
			// Call a method through a service that does not define it
			// (e.g. -service Calculator -method greet): send it raw.
			err = rawCall(ctx, tc, *method)
		}
		cancel()
		r.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
		if headerProto != nil && *method != "notify" {
			r.ReplyHeaders = copyHeaders(headerProto.GetReadHeaders())
		}
		if err == nil {
			r.OK = true
		} else {
			r.Result = nil
			r.Error = err.Error()
			fatal := classify(err, &r)
			emit(r)
			if fatal {
				exit = 1
				break
			}
			continue
		}
		emit(r)
	}
	// os.Exit skips deferred calls: linger here, with the connection open.
	time.Sleep(time.Duration(*linger) * time.Millisecond)
	os.Exit(exit)
}

// rawCall sends an empty-args call for an arbitrary method name and expects a
// reply (used to provoke UNKNOWN_METHOD).
func rawCall(ctx context.Context, c thrift.TClient, method string) error {
	_, err := c.Call(ctx, method, &demo.GreeterEchoArgs{S: "raw"}, &demo.GreeterEchoResult{})
	return err
}

// classify fills exception fields; it reports whether the error is fatal for
// the connection (transport/protocol errors).
func classify(err error, r *Result) bool {
	var ge *demo.GreetError
	if errors.As(err, &ge) {
		r.Exception = "GreetError"
		r.Error = ge.GetReason()
		r.Code = ptr(ge.GetCode())
		return false
	}
	var te thrift.TException
	if errors.As(err, &te) {
		switch te.TExceptionType() {
		case thrift.TExceptionTypeApplication:
			r.Exception = "TApplicationException"
			if ae, ok := te.(thrift.TApplicationException); ok {
				r.AppExceptionType = ptr(ae.TypeId())
			}
			return false
		case thrift.TExceptionTypeProtocol:
			r.Exception = "protocol"
			return true
		}
	}
	r.Exception = "transport"
	return true
}

func copyHeaders(h thrift.THeaderMap) map[string]string {
	if len(h) == 0 {
		return nil
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(h))
	for _, k := range keys {
		out[k] = h[k]
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func emit(r Result) {
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "client: "+format+"\n", args...)
	os.Exit(2)
}

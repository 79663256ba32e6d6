// Command server is a demo Apache Thrift server (Go, apache/thrift v0.17.0)
// serving the Greeter (and, with -multiplex, Calculator) services of
// idl/demo.thrift over a chosen transport and protocol.
//
// It prints "ready <addr>" on stdout once listening and exits cleanly on
// SIGTERM/SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/meshproto/meshproto/examples/thrift/gen-go/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address (port 0 picks a free port; see the ready line)")
	transport := flag.String("transport", "framed", "framed|buffered|header (header = THeader 0x0FFF; it also accepts framed/unframed binary/compact clients)")
	protocol := flag.String("protocol", "binary", "binary|compact (ignored for -transport header: the client's protocol id is used)")
	binaryStrict := flag.Bool("binary-strict", true, "binary: write strict (versioned) messages; false writes old non-strict replies. Non-strict requests are always accepted")
	instance := flag.String("instance", "thrift-server", "instance name returned in GreetReply.instance")
	version := flag.String("version", "v1", "version returned in GreetReply.version")
	multiplex := flag.Bool("multiplex", false, `serve a TMultiplexedProcessor with "Greeter" and "Calculator"; without it only Greeter is served (plain names)`)
	flag.Parse()

	log.SetPrefix(fmt.Sprintf("[server %s] ", *instance))
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	cfg := &thrift.TConfiguration{
		TBinaryStrictRead:  thrift.BoolPtr(false), // accept both strict and non-strict requests
		TBinaryStrictWrite: thrift.BoolPtr(*binaryStrict),
	}

	var transFactory thrift.TTransportFactory
	var protoFactory thrift.TProtocolFactory
	switch *transport {
	case "framed":
		transFactory = thrift.NewTFramedTransportFactoryConf(thrift.NewTTransportFactory(), cfg)
	case "buffered":
		transFactory = thrift.NewTBufferedTransportFactory(8192)
	case "header":
		transFactory = thrift.NewTHeaderTransportFactoryConf(nil, cfg)
		protoFactory = thrift.NewTHeaderProtocolFactoryConf(cfg)
	default:
		log.Fatalf("unknown -transport %q (framed|buffered|header)", *transport)
	}
	if protoFactory == nil {
		switch *protocol {
		case "binary":
			protoFactory = thrift.NewTBinaryProtocolFactoryConf(cfg)
		case "compact":
			protoFactory = thrift.NewTCompactProtocolFactoryConf(cfg)
		default:
			log.Fatalf("unknown -protocol %q (binary|compact)", *protocol)
		}
	}

	h := &handler{instance: *instance, version: *version}
	var processor thrift.TProcessor = demo.NewGreeterProcessor(h)
	if *multiplex {
		mp := thrift.NewTMultiplexedProcessor()
		mp.RegisterProcessor("Greeter", demo.NewGreeterProcessor(h))
		mp.RegisterProcessor("Calculator", demo.NewCalculatorProcessor(&calculator{h: h}))
		processor = &answeringMux{TMultiplexedProcessor: mp, services: map[string]bool{"Greeter": true, "Calculator": true}}
	}

	sock, err := thrift.NewTServerSocket(*addr)
	if err != nil {
		log.Fatalf("listen %s: %v", *addr, err)
	}
	server := thrift.NewTSimpleServer4(processor, sock, transFactory, protoFactory)
	server.SetLogger(func(msg string) { log.Print(msg) })
	if err := server.Listen(); err != nil {
		log.Fatalf("listen %s: %v", *addr, err)
	}
	// Do not wait forever for idle client connections on shutdown.
	thrift.ServerStopTimeout = time.Second

	fmt.Printf("ready %s\n", sock.Addr().String())
	os.Stdout.Sync()
	log.Printf("transport=%s protocol=%s multiplex=%v", *transport, *protocol, *multiplex)

	done := make(chan struct{})
	go func() {
		server.AcceptLoop()
		close(done)
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		log.Printf("%v: stopping", s)
		server.Stop()
		<-done
	case <-done:
		log.Printf("accept loop ended")
	}
}

type handler struct {
	instance, version string
	notifies          atomic.Int64
}

// replyHeaders sets the THeader response headers (no-op for other
// transports). The Go THeader transport keeps write headers across replies
// on a connection, so they are cleared first.
func (h *handler) replyHeaders(ctx context.Context, method string) {
	if rh, ok := thrift.GetResponseHelper(ctx); ok {
		rh.ClearHeaders()
		rh.SetHeader("x-served-by", h.instance)
		rh.SetHeader("x-method", method)
	}
}

// readHeaders returns the THeader info headers of the request being served.
func readHeaders(ctx context.Context) map[string]string {
	out := map[string]string{}
	keys := thrift.GetReadHeaderList(ctx)
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok := thrift.GetHeader(ctx, k); ok {
			out[k] = v
		}
	}
	return out
}

func (h *handler) Greet(ctx context.Context, req *demo.GreetRequest) (*demo.GreetReply, error) {
	h.replyHeaders(ctx, "greet")
	if req == nil {
		// A call whose argument struct lacks field 1 (the generated code
		// leaves it nil): a server must answer it, not crash on it.
		return nil, &demo.GreetError{Reason: "no request", Code: 400}
	}
	name := req.GetName()
	switch name {
	case "boom":
		return nil, &demo.GreetError{Reason: "boom", Code: 42}
	case "panic":
		// A plain Go error: the generated processor answers with a
		// TApplicationException INTERNAL_ERROR (message type EXCEPTION).
		return nil, errors.New("handler panicked on purpose")
	}
	headers := readHeaders(ctx)
	headers["x-notify-count"] = strconv.FormatInt(h.notifies.Load(), 10)
	return &demo.GreetReply{
		Message:  "hello " + name,
		Instance: h.instance,
		Version:  h.version,
		Headers:  headers,
	}, nil
}

func (h *handler) Notify(ctx context.Context, msg string) error {
	n := h.notifies.Add(1)
	log.Printf("notify #%d: %q", n, msg)
	return nil
}

func (h *handler) Echo(ctx context.Context, s string) (string, error) {
	h.replyHeaders(ctx, "echo")
	return s, nil
}

func (h *handler) SleepMs(ctx context.Context, ms int32) (int32, error) {
	h.replyHeaders(ctx, "sleepMs")
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done(): // the client went away (server connectivity check)
	}
	return ms, nil
}

type calculator struct{ h *handler }

func (c *calculator) Add(ctx context.Context, a, b int64) (int64, error) {
	c.h.replyHeaders(ctx, "add")
	return a + b, nil
}

func (c *calculator) Divide(ctx context.Context, a, b int64) (int64, error) {
	c.h.replyHeaders(ctx, "divide")
	if b == 0 {
		return 0, &demo.GreetError{Reason: "division by zero", Code: 400}
	}
	return a / b, nil
}

// answeringMux is Apache Thrift's multiplexed processor, except for a
// message naming no registered service: the library returns an error and
// the server drops the connection, with every other call in flight on it
// (a proxy multiplexes several clients on one connection); this server
// answers it with a TApplicationException UNKNOWN_METHOD instead, as the
// generated processors do for an unknown method, and keeps the connection.
type answeringMux struct {
	*thrift.TMultiplexedProcessor
	services map[string]bool
}

func (m *answeringMux) Process(ctx context.Context, in, out thrift.TProtocol) (bool, thrift.TException) {
	name, typeID, seqID, err := in.ReadMessageBegin(ctx)
	if err != nil {
		return false, thrift.NewTProtocolException(err)
	}
	svc, method, multiplexed := strings.Cut(name, thrift.MULTIPLEXED_SEPARATOR)
	if multiplexed && m.services[svc] {
		return m.TMultiplexedProcessor.Process(ctx, thrift.NewStoredMessageProtocol(in, name, typeID, seqID), out)
	}
	if err := in.Skip(ctx, thrift.STRUCT); err != nil {
		return false, thrift.NewTProtocolException(err)
	}
	if err := in.ReadMessageEnd(ctx); err != nil {
		return false, thrift.NewTProtocolException(err)
	}
	if typeID == thrift.ONEWAY {
		return true, nil
	}
	exc := thrift.NewTApplicationException(thrift.UNKNOWN_METHOD, "unknown service in "+strconv.Quote(name))
	reply := name
	if multiplexed {
		reply = method // what a TMultiplexedProtocol client expects back
	}
	if err := out.WriteMessageBegin(ctx, reply, thrift.EXCEPTION, seqID); err != nil {
		return false, thrift.NewTProtocolException(err)
	}
	if err := exc.Write(ctx, out); err != nil {
		return false, thrift.NewTProtocolException(err)
	}
	if err := out.WriteMessageEnd(ctx); err != nil {
		return false, thrift.NewTProtocolException(err)
	}
	return true, thrift.WrapTException(out.Flush(ctx))
}

// Command provider is the benchmark's Dubbo (or, with -protocol, Thrift)
// provider: every two-way request is answered with its own first argument
// (an "echo"), written back without decoding or re-encoding it. One
// goroutine per connection reads, answers into a buffer and flushes once
// the read buffer is empty, so replies to pipelined requests leave in
// batches. It is deliberately lean so that it is never the bottleneck of a
// proxy benchmark (see docs/performance.md).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshproto/meshproto/benchmarks/dubbowire"
	"github.com/meshproto/meshproto/benchmarks/thriftwire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:20880", "listen address")
	protocol := flag.String("protocol", "dubbo", "dubbo, thrift-framed-binary or thrift-header-compact")
	flag.Parse()
	serve := serveDubbo
	if *protocol != "dubbo" {
		k, err := thriftwire.ParseProtocol(*protocol)
		if err != nil {
			log.Fatalf("provider: -protocol: not dubbo, and %v", err)
		}
		serve = func(c net.Conn) { serveThrift(c, k) }
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready", ln.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Print(err)
			continue
		}
		go serve(c)
	}
}

func serveDubbo(c net.Conn) {
	defer c.Close()
	r := dubbowire.NewReader(c)
	out := make([]byte, 0, 64<<10)
	for {
		h, body, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Printf("provider: %s: %v", c.RemoteAddr(), err)
			}
			return
		}
		switch {
		case !h.IsRequest() || !h.IsTwoWay():
			// responses and one-way requests: nothing to answer
		case h.IsEvent():
			out = dubbowire.AppendHeartbeatResponse(out, h.ID)
		default:
			arg, err := dubbowire.RequestArg(body)
			if err != nil {
				log.Printf("provider: request %d: %v", h.ID, err)
				return
			}
			out = dubbowire.AppendResponse(out, h.ID, arg)
		}
		if r.Buffered() == 0 && len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
	}
}

// serveThrift answers every call with a reply carrying its argument.
func serveThrift(c net.Conn, k thriftwire.Kind) {
	defer c.Close()
	r := thriftwire.NewReader(c)
	out := make([]byte, 0, 64<<10)
	for {
		f, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Printf("provider: %s: %v", c.RemoteAddr(), err)
			}
			return
		}
		m, err := thriftwire.Parse(k, f)
		if err != nil {
			log.Printf("provider: %s: %v", c.RemoteAddr(), err)
			return
		}
		if m.Type == thriftwire.Call {
			out = thriftwire.AppendMessage(out, k, thriftwire.Reply, m.Name, m.Seq, m.Value)
		}
		if r.Buffered() == 0 && len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
	}
}

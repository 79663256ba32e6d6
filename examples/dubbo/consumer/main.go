// Command consumer is a demo Dubbo 2 consumer built on internal/dubbopeer.
//
// By default it calls org.meshproto.demo.GreetingService#greet through the
// consumer-side sidecar at 127.0.0.1:20881, prints one line per call and a
// summary of which provider instance served each call. It exits 1 if any
// call failed at the transport level (connection error, timeout, bad frame).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

type attachFlag map[string]string

func (a attachFlag) String() string {
	parts := make([]string, 0, len(a))
	for k, v := range a {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (a attachFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want k=v, got %q", s)
	}
	a[k] = v
	return nil
}

// callRecord is the -json output line.
type callRecord struct {
	Call                int               `json:"call"`
	OK                  bool              `json:"ok"`
	Status              int               `json:"status"`
	Instance            string            `json:"instance"`
	Version             string            `json:"version"`
	Message             string            `json:"message"`
	Attachments         map[string]string `json:"attachments"`
	ResponseAttachments map[string]string `json:"response_attachments,omitempty"`
	Exception           string            `json:"exception,omitempty"`
	RequestID           uint64            `json:"request_id"`
	LatencyMS           float64           `json:"latency_ms"`
	Error               string            `json:"error"`
}

func main() {
	attach := attachFlag{}
	addr := flag.String("addr", "127.0.0.1:20881", "address of the consumer-side sidecar (or of a provider directly)")
	service := flag.String("service", "org.meshproto.demo.GreetingService", "service interface")
	method := flag.String("method", "greet", "method to call")
	version := flag.String("version", "", "service version")
	group := flag.String("group", "", "service group")
	n := flag.Int("n", 10, "number of calls")
	arg := flag.String("arg", "meshproto", "argument: the name for greet, the item for place, the value for echo/fail, milliseconds for sleep")
	flag.Var(attach, "attach", "attachment k=v (repeatable)")
	timeout := flag.Duration("timeout", 3*time.Second, "per-call timeout")
	interval := flag.Duration("interval", 0, "pause between calls")
	asJSON := flag.Bool("json", false, "print one JSON object per call")
	concurrency := flag.Int("c", 1, "calls in flight at once (pipelined on one connection)")
	heartbeat := flag.Bool("heartbeat", false, "send a heartbeat event first and report its round trip")
	flag.Parse()

	args, types, err := buildArgs(*method, *arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(2)
	}

	dialCtx, cancel := context.WithTimeout(context.Background(), *timeout)
	client, err := dubbopeer.Dial(dialCtx, *addr, dubbopeer.WithDefaultTimeout(*timeout))
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "consumer: dial %s: %v\n", *addr, err)
		os.Exit(1)
	}
	defer client.Close()

	if *heartbeat {
		rtt, err := client.Heartbeat(context.Background())
		if err != nil {
			fmt.Fprintf(os.Stderr, "consumer: heartbeat: %v\n", err)
			os.Exit(1)
		}
		if !*asJSON {
			fmt.Printf("heartbeat: rtt %v\n", rtt)
		}
	}

	enc := json.NewEncoder(os.Stdout)
	perInstance := map[string]int{}
	var ok, dubboErrs, transportErrs int
	var mu sync.Mutex
	record := func(rec callRecord) {
		mu.Lock()
		defer mu.Unlock()
		inst := rec.Instance
		switch {
		case rec.Status == 0:
			transportErrs++
			inst = "<transport error>"
		case rec.OK:
			ok++
		default:
			dubboErrs++
		}
		if inst == "" {
			inst = "<unknown>"
		}
		perInstance[inst]++
		if *asJSON {
			_ = enc.Encode(rec)
		} else {
			fmt.Println(human(rec))
		}
	}
	call := func(i int) {
		start := time.Now()
		res, err := client.Call(context.Background(), &dubbopeer.Invocation{
			Service: *service, Method: *method, Version: *version, Group: *group,
			ParamTypes: types, Args: args, Attachments: attach, Timeout: *timeout,
		})
		rec := callRecord{Call: i, LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			rec.Error = err.Error()
		} else {
			fill(&rec, res)
		}
		record(rec)
	}
	if *concurrency <= 1 {
		for i := 1; i <= *n; i++ {
			if i > 1 && *interval > 0 {
				time.Sleep(*interval)
			}
			call(i)
		}
	} else {
		// Pipelined: up to -c calls in flight on the one connection.
		next := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < *concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					call(i)
				}
			}()
		}
		for i := 1; i <= *n; i++ {
			if i > 1 && *interval > 0 {
				time.Sleep(*interval)
			}
			next <- i
		}
		close(next)
		wg.Wait()
	}

	if !*asJSON {
		names := make([]string, 0, len(perInstance))
		for k := range perInstance {
			names = append(names, k)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, k := range names {
			parts[i] = fmt.Sprintf("%s=%d", k, perInstance[k])
		}
		fmt.Printf("summary: %d calls, %d ok, %d dubbo errors, %d transport errors; per instance: %s\n",
			*n, ok, dubboErrs, transportErrs, strings.Join(parts, " "))
	}
	if client.Mismatches() > 0 {
		fmt.Fprintf(os.Stderr, "consumer: %d responses matched no outstanding request\n", client.Mismatches())
	}
	if transportErrs > 0 {
		client.Close()
		os.Exit(1)
	}
}

// buildArgs maps -arg to the demo methods' Java signatures.
func buildArgs(method, arg string) ([]interface{}, string, error) {
	switch method {
	case "sleep":
		ms, err := strconv.ParseInt(arg, 10, 32)
		if err != nil {
			ms = 100
		}
		return []interface{}{int32(ms)}, "I", nil
	case "echo":
		return []interface{}{arg}, "Ljava/lang/Object;", nil
	default:
		return []interface{}{arg}, "Ljava/lang/String;", nil
	}
}

func fill(rec *callRecord, res *dubbopeer.Result) {
	rec.Status = int(res.Status)
	rec.OK = res.OK()
	rec.RequestID = res.RequestID
	rec.ResponseAttachments = res.Attachments
	switch {
	case res.Status != dubbopeer.StatusOK:
		rec.Error = res.ErrorMessage
	case res.Exception != "" || res.ExceptionClass != "":
		rec.Exception = res.ExceptionClass
		rec.Error = res.ExceptionClass + ": " + res.Exception
	}
	if m, ok := res.Value.(map[interface{}]interface{}); ok {
		rec.Instance = strOf(m["instance"])
		rec.Version = strOf(m["version"])
		rec.Message = strOf(m["message"])
		if a, ok := m["attachments"].(map[interface{}]interface{}); ok {
			rec.Attachments = map[string]string{}
			for k, v := range a {
				rec.Attachments[strOf(k)] = strOf(v)
			}
		}
	} else if res.Value != nil {
		rec.Message = fmt.Sprint(res.Value)
	}
	if rec.Instance == "" && res.Attachments != nil {
		rec.Instance = res.Attachments["instance"]
		rec.Version = res.Attachments["provider.version"]
	}
}

func strOf(v interface{}) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func human(r callRecord) string {
	switch {
	case r.Status == 0:
		return fmt.Sprintf("call %d: transport error: %s", r.Call, r.Error)
	case r.Status != int(dubbopeer.StatusOK):
		return fmt.Sprintf("call %d: status %d: %s", r.Call, r.Status, r.Error)
	case r.Exception != "":
		by := ""
		if r.Instance != "" {
			by = fmt.Sprintf(" (from %s)", r.Instance)
		}
		return fmt.Sprintf("call %d: exception%s: %s", r.Call, by, r.Error)
	case r.Instance != "":
		return fmt.Sprintf("call %d: served by %s (version %s): %s", r.Call, r.Instance, r.Version, r.Message)
	default:
		return fmt.Sprintf("call %d: ok: %s", r.Call, r.Message)
	}
}

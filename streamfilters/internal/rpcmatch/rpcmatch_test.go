package rpcmatch

import (
	"encoding/json"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/mosn/pkg/protocol"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

type req struct {
	protocol.CommonHeader
	proto, service, method string
}

func (r req) RPCProtocol() string { return r.proto }
func (r req) Service() string     { return r.service }
func (r req) Method() string      { return r.method }
func (r req) Version() string     { return "" }
func (r req) Group() string       { return "" }

var _ rpcmeta.Request = req{}

func compile(t *testing.T, js string) *Matcher {
	t.Helper()
	var c Config
	require.NoError(t, json.Unmarshal([]byte(js), &c))
	m, err := Compile("rules[0].match", c)
	require.NoError(t, err)
	return m
}

func TestMatch(t *testing.T) {
	greet := req{protocol.CommonHeader{"x-tag": "gray", "tenant": "t1"}, "dubbo", "org.example.Greeter", "greet"}
	thrift := req{protocol.CommonHeader{}, "thrift", "Calculator", "add"}
	local := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5555}
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.9"), Port: 5555}
	cases := []struct {
		name string
		js   string
		r    req
		src  net.Addr
		want bool
	}{
		{"empty matches all", `{}`, greet, nil, true},
		{"service exact", `{"service": {"exact": "org.example.Greeter"}}`, greet, nil, true},
		{"service exact miss", `{"service": {"exact": "org.example"}}`, greet, nil, false},
		{"service prefix", `{"service": {"prefix": "org.example."}}`, greet, nil, true},
		{"method regex", `{"method": {"regex": "^(greet|echo)$"}}`, greet, nil, true},
		{"method regex miss", `{"method": {"regex": "^echo$"}}`, greet, nil, false},
		{"inverted", `{"method": {"exact": "greet", "invert": true}}`, greet, nil, false},
		{"header value", `{"headers": [{"name": "x-tag", "exact": "gray"}]}`, greet, nil, true},
		{"header value miss", `{"headers": [{"name": "x-tag", "exact": "blue"}]}`, greet, nil, false},
		{"header absent means no match", `{"headers": [{"name": "zone", "prefix": "z"}]}`, greet, nil, false},
		{"header present", `{"headers": [{"name": "tenant", "present": true}]}`, greet, nil, true},
		{"header not present", `{"headers": [{"name": "tenant", "present": false}]}`, thrift, nil, true},
		{"all conditions", `{"service": {"prefix": "org."}, "method": {"exact": "greet"}, "headers": [{"name": "x-tag", "regex": "gr.y"}]}`, greet, nil, true},
		{"one condition fails", `{"service": {"prefix": "org."}, "method": {"exact": "echo"}}`, greet, nil, false},
		{"source CIDR", `{"source_ips": ["127.0.0.0/8"]}`, greet, local, true},
		{"source CIDR miss", `{"source_ips": ["127.0.0.0/8"]}`, greet, remote, false},
		{"source single IP", `{"source_ips": ["192.0.2.9"]}`, greet, remote, true},
		{"source unknown", `{"source_ips": ["127.0.0.0/8"]}`, greet, nil, false},
		{"protocol", `{"protocols": ["thrift"]}`, thrift, nil, true},
		{"protocol miss", `{"protocols": ["thrift"]}`, greet, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, compile(t, tc.js).Match(tc.r, tc.src))
		})
	}
}

func TestCompileErrorsNameTheField(t *testing.T) {
	cases := []struct{ js, want string }{
		{`{"service": {}}`, "rules[0].match.service: want exactly one"},
		{`{"method": {"exact": "a", "prefix": "b"}}`, "rules[0].match.method: want exactly one"},
		{`{"method": {"regex": "("}}`, `rules[0].match.method.regex "("`},
		{`{"headers": [{"exact": "x"}]}`, "rules[0].match.headers[0].name: missing"},
		{`{"headers": [{"name": "a"}]}`, "rules[0].match.headers[0]: want exactly one"},
		{`{"source_ips": ["300.1.1.1"]}`, `rules[0].match.source_ips[0] "300.1.1.1"`},
		{`{"protocols": ["dubo"]}`, `rules[0].match.protocols[0] "dubo"`},
	}
	for _, tc := range cases {
		var c Config
		require.NoError(t, json.Unmarshal([]byte(tc.js), &c))
		_, err := Compile("rules[0].match", c)
		require.Error(t, err, tc.js)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func BenchmarkMatch(b *testing.B) {
	var c Config
	_ = json.Unmarshal([]byte(`{"service": {"prefix": "org."}, "method": {"regex": "^(greet|echo)$"}, "headers": [{"name": "x-tag", "exact": "gray"}]}`), &c)
	m, _ := Compile("m", c)
	r := req{protocol.CommonHeader{"x-tag": "gray"}, "dubbo", "org.example.Greeter", "greet"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !m.Match(r, nil) {
			b.Fatal("no match")
		}
	}
}

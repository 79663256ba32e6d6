package dubboreg

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const iface = "org.meshproto.demo.UserProvider"

// dubboGoNode is the node dubbo-go v3.0.5 writes (parameters as it sorts
// them), URL-encoded as in ZooKeeper.
func node(raw string) string { return url.QueryEscape(raw) }

func TestParseProvider(t *testing.T) {
	for _, tc := range []struct {
		name, dir, raw string
		want           Provider
		err            string
	}{
		{
			name: "dubbo-go provider with version, group, weight and tag",
			dir:  iface,
			raw: "dubbo://127.0.0.1:20881/" + iface + "?anyhost=false&application=demo&bean.name=UserProvider&category=providers" +
				"&dubbo.tag=gray&group=g1&interface=" + iface + "&methods=getUser,fail&side=provider&version=1.0.0&weight=300",
			want: Provider{Interface: iface, Group: "g1", Version: "1.0.0", Host: "127.0.0.1", Port: 20881, Weight: 300, Tag: "gray", App: "demo",
				Methods: []string{"fail", "getUser"}},
		},
		{
			name: "no interface parameter: the path names it; default weight",
			dir:  iface, raw: "dubbo://10.0.0.1:20880/" + iface + "?side=provider",
			want: Provider{Interface: iface, Host: "10.0.0.1", Port: 20880, Weight: DefaultWeight},
		},
		{
			name: "IPv6 host", dir: iface, raw: "dubbo://[::1]:20880/" + iface,
			want: Provider{Interface: iface, Host: "::1", Port: 20880, Weight: DefaultWeight},
		},
		{
			name: "disabled by the URL", dir: iface, raw: "dubbo://127.0.0.1:1/" + iface + "?disabled=true",
			want: Provider{Interface: iface, Host: "127.0.0.1", Port: 1, Weight: DefaultWeight, Disabled: true},
		},
		{
			name: "weight 0 stays 0 (no traffic)", dir: iface, raw: "dubbo://127.0.0.1:1/" + iface + "?weight=0",
			want: Provider{Interface: iface, Host: "127.0.0.1", Port: 1, Weight: 0},
		},
		{
			name: "dubbo-go's failover default with retries unset advertises nothing",
			dir:  iface, raw: "dubbo://127.0.0.1:1/" + iface + "?cluster=failover&loadbalance=random&retries=&methods.getUser.retries=",
			want: Provider{Interface: iface, Host: "127.0.0.1", Port: 1, Weight: DefaultWeight},
		},
		{
			name: "Java Dubbo provider with timeout and retries",
			dir:  iface, raw: "dubbo://127.0.0.1:1/" + iface + "?timeout=3000&retries=1&getUser.timeout=50",
			want: Provider{Interface: iface, Host: "127.0.0.1", Port: 1, Weight: DefaultWeight,
				Policy: CallPolicy{Timeout: 3 * time.Second, Retries: 1, HasRetries: true}},
		},
		{
			name: "failfast never retries, whatever retries says",
			dir:  iface, raw: "dubbo://127.0.0.1:1/" + iface + "?cluster=failfast&retries=5",
			want: Provider{Interface: iface, Host: "127.0.0.1", Port: 1, Weight: DefaultWeight, Policy: CallPolicy{HasRetries: true}},
		},
		{
			name: "retries below 0 are 0; a timeout of 0 is unset",
			dir:  iface, raw: "dubbo://127.0.0.1:1/" + iface + "?retries=-1&timeout=0",
			want: Provider{Interface: iface, Host: "127.0.0.1", Port: 1, Weight: DefaultWeight, Policy: CallPolicy{HasRetries: true}},
		},
		{
			name: "retries above MaxRetries",
			dir:  iface, raw: "dubbo://127.0.0.1:1/" + iface + "?retries=1000",
			want: Provider{Interface: iface, Host: "127.0.0.1", Port: 1, Weight: DefaultWeight, Policy: CallPolicy{Retries: MaxRetries, HasRetries: true}},
		},
		{name: "bad timeout", dir: iface, raw: "dubbo://127.0.0.1:1/" + iface + "?timeout=3s", err: `bad timeout "3s"`},
		{name: "bad retries", dir: iface, raw: "dubbo://127.0.0.1:1/" + iface + "?retries=two", err: `bad retries "two"`},
		{name: "other protocol", dir: iface, raw: "tri://127.0.0.1:1/" + iface, err: `protocol "tri"`},
		{name: "no port", dir: iface, raw: "dubbo://127.0.0.1/" + iface, err: "no host:port"},
		{name: "port 0", dir: iface, raw: "dubbo://127.0.0.1:0/" + iface, err: "bad port"},
		{name: "port too large", dir: iface, raw: "dubbo://127.0.0.1:70000/" + iface, err: "bad port"},
		{name: "hostname instead of IP", dir: iface, raw: "dubbo://provider.local:20880/" + iface, err: "not an IP address"},
		{name: "bad weight", dir: iface, raw: "dubbo://127.0.0.1:1/" + iface + "?weight=-3", err: "bad weight"},
		{name: "registered under another interface", dir: "org.other.X", raw: "dubbo://127.0.0.1:1/" + iface, err: "registered under"},
		{name: "not a URL", dir: iface, raw: "dubbo://not a host/%%", err: "provider URL"},
		{name: "empty", dir: iface, raw: "", err: "protocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseProvider(tc.dir, node(tc.raw))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			tc.want.Node = node(tc.raw)
			assert.Equal(t, tc.want, p)
		})
	}
}

func TestParseProviderBadEncodingAndSize(t *testing.T) {
	_, err := ParseProvider(iface, "dubbo%3A%2F%2F%ZZ")
	assert.ErrorContains(t, err, "not URL-encoded")
	_, err = ParseProvider(iface, strings.Repeat("a", maxNodeName+1))
	assert.ErrorContains(t, err, "max")
}

func TestServiceKeys(t *testing.T) {
	assert.Equal(t, "g/i:1", ServiceKey("i", "g", "1"))
	assert.Equal(t, "i", ServiceKey("i", "", ""))
	for in, want := range map[string]string{
		"i::":      "i",
		"i:1.0.0:": "i:1.0.0",
		"i:1:g":    "g/i:1",
		"i":        "i",
		"g/i:1":    "g/i:1",
	} {
		assert.Equal(t, want, NormalizeServiceKey(in), in)
	}
}

// FuzzParseProvider: any node name gives a provider or an error, never a
// panic, and a provider always has an IP, a port and its directory's
// interface.
func FuzzParseProvider(f *testing.F) {
	f.Add(iface, node("dubbo://127.0.0.1:20881/"+iface+"?version=1.0.0&weight=300&dubbo.tag=gray"))
	f.Add(iface, "dubbo%3A%2F%2F")
	f.Add("x", node("dubbo://[::1]:1/x?interface=x&weight=99999999999"))
	f.Fuzz(func(t *testing.T, dir, n string) {
		p, err := ParseProvider(dir, n)
		if err != nil {
			return
		}
		if p.Port == 0 || p.Host == "" || p.Interface != dir {
			t.Fatalf("accepted %q as %+v", n, p)
		}
	})
}

package dubboreg

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildAppliesRules(t *testing.T) {
	p1 := node("dubbo://127.0.0.1:1/" + iface + "?version=1.0.0&application=demo")
	p2 := node("dubbo://127.0.0.1:2/" + iface + "?version=1.0.0&application=demo&weight=200")
	p3 := node("dubbo://127.0.0.1:3/" + iface + "?version=2.0.0&group=g&application=demo&dubbo.tag=static")
	dup := node("dubbo://127.0.0.1:1/" + iface + "?version=1.0.0&application=demo&timestamp=2")
	for _, tc := range []struct {
		name     string
		rules    map[string]string
		check    func(t *testing.T, m Model)
		problems []string
	}{
		{
			name: "no rules: URL values, one endpoint per address and key, groups apart",
			check: func(t *testing.T, m Model) {
				require.Len(t, m.Services, 2)
				assert.Equal(t, "", m.Services[0].Group)
				assert.Len(t, m.Services[0].Providers, 2, "the re-registered p1 counts once")
				assert.Equal(t, uint32(200), m.Services[0].Providers[1].Weight)
				assert.Equal(t, "g", m.Services[1].Group)
				assert.Equal(t, "static", m.Services[1].Providers[0].Tag)
			},
		},
		{
			name: "service override: weight for one address, disabled for all",
			rules: map[string]string{
				iface + ":1.0.0:.configurators": "configVersion: v2.7\nscope: service\nkey: " + iface + ":1.0.0\nconfigs:\n" +
					"- addresses: [127.0.0.1:1]\n  side: provider\n  parameters: {weight: \"50\"}\n" +
					"- addresses: [0.0.0.0]\n  parameters: {disabled: \"true\"}\n",
			},
			check: func(t *testing.T, m Model) {
				ps := m.Services[0].Providers
				assert.Equal(t, uint32(50), ps[0].Weight)
				assert.Equal(t, uint32(200), ps[1].Weight)
				assert.True(t, ps[0].Disabled && ps[1].Disabled)
				assert.False(t, m.Services[1].Providers[0].Disabled, "another version is not named")
			},
		},
		{
			name: "application override and consumer-side item with providerAddresses",
			rules: map[string]string{
				"demo.configurators": "scope: application\nkey: demo\nconfigs:\n- side: consumer\n  providerAddresses: [127.0.0.1:3]\n  parameters: {weight: \"7\"}\n",
			},
			check: func(t *testing.T, m Model) {
				assert.Equal(t, uint32(7), m.Services[1].Providers[0].Weight)
				assert.Equal(t, uint32(DefaultWeight), m.Services[0].Providers[0].Weight)
			},
		},
		{
			name: "never half applied: an item with a timeout is skipped whole",
			rules: map[string]string{
				iface + "::.configurators": "scope: service\nkey: " + iface + "\nconfigs:\n- parameters: {weight: \"1\", timeout: \"2000\"}\n",
			},
			check: func(t *testing.T, m Model) {
				assert.Equal(t, uint32(DefaultWeight), m.Services[0].Providers[0].Weight)
			},
			problems: []string{"parameters [timeout] are not applied"},
		},
		{
			name: "disabled rule does nothing",
			rules: map[string]string{
				iface + ":1.0.0:.configurators": "scope: service\nkey: " + iface + ":1.0.0\nenabled: false\nconfigs:\n- parameters: {disabled: \"true\"}\n",
			},
			check: func(t *testing.T, m Model) { assert.False(t, m.Services[0].Providers[0].Disabled) },
		},
		{
			name: "tag-router: listed addresses get the tag, others keep theirs",
			rules: map[string]string{
				"demo.tag-router": "force: false\nenabled: true\nkey: demo\ntags:\n- name: gray\n  addresses: [127.0.0.1:2]\n",
			},
			check: func(t *testing.T, m Model) {
				assert.Equal(t, "", m.Services[0].Providers[0].Tag)
				assert.Equal(t, "gray", m.Services[0].Providers[1].Tag)
				assert.Equal(t, "static", m.Services[1].Providers[0].Tag)
			},
		},
		{
			name: "unsupported and broken rules are reported, not applied",
			rules: map[string]string{
				"demo.condition-router":  "conditions:\n- => host != 127.0.0.1\n",
				"x.configurators":        "scope: [nonsense",
				"y.configurators":        "scope: galaxy\n",
				"demo.tag-router.backup": "ignored: not a rule node",
			},
			check:    func(t *testing.T, m Model) { assert.Len(t, m.Services[0].Providers, 2) },
			problems: []string{"condition-router demo: rule kind not supported", "configurators x:", `unknown scope "galaxy"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := map[string][]byte{}
			for k, v := range tc.rules {
				rules[k] = []byte(v)
			}
			m := Build(Registry{Providers: map[string][]string{iface: {p1, p2, p3, dup}}, Rules: rules})
			tc.check(t, m)
			joined := ""
			for _, p := range m.Problems {
				joined += p + "\n"
			}
			for _, want := range tc.problems {
				assert.Contains(t, joined, want)
			}
			if len(tc.problems) == 0 {
				assert.Empty(t, m.Problems)
			}
		})
	}
}

func TestBuildKeepsEmptyInterfaces(t *testing.T) {
	m := Build(Registry{Providers: map[string][]string{iface: {}, "org.B": {"garbage"}}})
	require.Len(t, m.Services, 2, "an interface whose providers all left (or are unreadable) is still routed, to nothing")
	assert.Empty(t, m.Services[0].Providers)
	assert.Len(t, m.Problems, 1)
}

func TestSelectionPolicy(t *testing.T) {
	pol := func(timeout time.Duration, retries uint32, has bool) Provider {
		return Provider{Policy: CallPolicy{Timeout: timeout, Retries: retries, HasRetries: has}}
	}
	for _, tc := range []struct {
		name      string
		providers []Provider
		want      CallPolicy
	}{
		{name: "no providers", want: CallPolicy{}},
		{name: "nothing advertised", providers: []Provider{pol(0, 0, false), pol(0, 0, false)}, want: CallPolicy{}},
		{name: "one advertises", providers: []Provider{pol(0, 0, false), pol(time.Second, 1, true)}, want: CallPolicy{time.Second, 1, true}},
		{
			name:      "the longest timeout, the fewest retries",
			providers: []Provider{pol(time.Second, 3, true), pol(3*time.Second, 1, true), pol(2*time.Second, 2, true)},
			want:      CallPolicy{3 * time.Second, 1, true},
		},
		{name: "a failfast provider turns retries off", providers: []Provider{pol(0, 2, true), pol(0, 0, true)}, want: CallPolicy{0, 0, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Selection{Providers: tc.providers}.Policy())
		})
	}
}

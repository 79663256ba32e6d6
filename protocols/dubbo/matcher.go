package dubbo

import "mosn.io/api"

// Match tells a listener with protocol "Auto" whether the first bytes of a
// connection are Dubbo: they start with the magic 0xdabb.
func Match(data []byte) api.MatchResult {
	switch {
	case len(data) == 0:
		return api.MatchAgain
	case data[0] != magicHigh:
		return api.MatchFailed
	case len(data) == 1:
		return api.MatchAgain
	case data[1] != magicLow:
		return api.MatchFailed
	default:
		return api.MatchSuccess
	}
}

// Package filterconf decodes a stream filter's config the way every
// meshproto filter does: MOSN hands over a generic JSON map; it is decoded
// into the filter's Config struct, unknown fields are errors (a typo must
// not silently disable a rule), and every error starts with the filter's
// name.
package filterconf

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Decode fills dst (a pointer to the filter's Config) from conf.
func Decode(filter string, conf map[string]interface{}, dst interface{}) error {
	raw, err := json.Marshal(conf)
	if err != nil {
		return fmt.Errorf("%s: config: %w", filter, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%s: config: %w", filter, err)
	}
	return nil
}

package dubbo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// TestWriteFuzzSeeds regenerates testdata/seeds (the fuzz corpus seeds of
// package dubbofuzz) from dubbo-go-hessian2 frames when MESHPROTO_WRITE_SEEDS
// is set. The fuzz target lives in its own package so that its test binary
// does not link dubbo-go-hessian2, which makes coverage-guided fuzzing two
// orders of magnitude slower.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("MESHPROTO_WRITE_SEEDS") == "" {
		t.Skip("set MESHPROTO_WRITE_SEEDS=1 to regenerate testdata/seeds")
	}
	inv := greetInvocation()
	pojo := greetInvocation()
	u := &user{Name: "x", Age: 1, Tags: []string{"a"}}
	pojo.Args, pojo.ParamTypes = []interface{}{u, u, map[interface{}]interface{}{"k": []interface{}{u}}}, "Lorg/meshproto/demo/User;Lorg/meshproto/demo/User;Ljava/util/Map;"
	seeds := map[string][]byte{
		"request-two-way":        mustRequest(t, 1, inv, true),
		"request-one-way":        mustRequest(t, 2, inv, false),
		"request-pojo-refs":      mustRequest(t, 8, pojo, true),
		"heartbeat-request":      dubbopeer.EncodeHeartbeat(3, true),
		"heartbeat-response":     dubbopeer.EncodeHeartbeat(4, false),
		"response-attachments":   mustResponse(t, 5, &dubbopeer.ServerResponse{Value: "v", Attachments: map[string]string{"a": "b"}}, false),
		"response-exception":     mustResponse(t, 6, &dubbopeer.ServerResponse{Exception: "e"}, false),
		"response-service-error": mustResponse(t, 7, &dubbopeer.ServerResponse{Status: StatusServiceError, ErrorMessage: "m"}, false),
		"event-readonly":         {0xda, 0xbb, 0xa2, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0x01, 'R'},
		"header-2gib-length":     {0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff},
	}
	for name, b := range seeds {
		require.NoError(t, os.WriteFile(filepath.Join("testdata", "seeds", name+".bin"), b, 0o644))
	}
}

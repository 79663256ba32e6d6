package controlplane

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"encoding/json"

	"github.com/ghodss/yaml"
	"github.com/gogo/protobuf/jsonpb"
	"github.com/gogo/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
)

// TestIstioConfigsParse loads every resource in configs/istio/*/ into the
// istio.io/api types (gogo jsonpb, unknown fields rejected), so the examples in the
// docs cannot rot.
func TestIstioConfigsParse(t *testing.T) {
	files, err := filepath.Glob("../../configs/istio/*/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs/istio/*/*.yaml: %v", err)
	}
	kinds := map[string]int{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				t.Fatalf("%s #%d: %v", file, i, err)
			}
			var obj struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Spec       json.RawMessage
			}
			if err := json.Unmarshal(js, &obj); err != nil {
				t.Fatalf("%s #%d: %v", file, i, err)
			}
			if obj.APIVersion != "networking.istio.io/v1alpha3" {
				t.Errorf("%s #%d: apiVersion %q", file, i, obj.APIVersion)
			}
			var msg proto.Message
			switch obj.Kind {
			case "ServiceEntry":
				msg = &networking.ServiceEntry{}
			case "WorkloadEntry":
				msg = &networking.WorkloadEntry{}
			case "VirtualService":
				msg = &networking.VirtualService{}
			case "DestinationRule":
				msg = &networking.DestinationRule{}
			case "EnvoyFilter":
				msg = &networking.EnvoyFilter{}
			case "Sidecar":
				msg = &networking.Sidecar{}
			default:
				t.Fatalf("%s #%d: unexpected kind %q", file, i, obj.Kind)
			}
			if err := (&jsonpb.Unmarshaler{}).Unmarshal(bytes.NewReader(obj.Spec), msg); err != nil {
				t.Errorf("%s #%d %s: %v", file, i, obj.Kind, err)
			}
			kinds[obj.Kind]++
		}
	}
	for _, k := range []string{"ServiceEntry", "WorkloadEntry", "VirtualService", "DestinationRule", "Sidecar", "EnvoyFilter"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in configs/istio", k)
		}
	}
}

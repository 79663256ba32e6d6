package dubbopeer

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/apache/dubbo-go-hessian2/java_exception"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// libCodec returns dubbo-go-hessian2's codec reading one whole frame.
func libCodec(frame []byte) *hessian.HessianCodec {
	return hessian.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), len(frame)+64))
}

func TestRequestFramesDecodeWithDubboGoHessian2(t *testing.T) {
	inv := &Invocation{
		Service: "org.meshproto.demo.GreetingService", Method: "greet", Version: "1.0.0", Group: "g1",
		Args:        []interface{}{"meshproto", int32(3), map[string]interface{}{"k": "v"}},
		Attachments: map[string]string{"traceid": "t-1"},
		Timeout:     2 * time.Second,
	}
	for _, twoWay := range []bool{true, false} {
		frame, err := EncodeRequestFrame(0x0102030405060708, inv, twoWay)
		require.NoError(t, err)
		codec := libCodec(frame)
		var h hessian.DubboHeader
		require.NoError(t, codec.ReadHeader(&h))
		want := hessian.PackageRequest
		if twoWay {
			want |= hessian.PackageRequest_TwoWay
		}
		assert.Equal(t, want, h.Type)
		assert.Equal(t, byte(2), h.SerialID)
		assert.Equal(t, int64(0x0102030405060708), h.ID)
		assert.Equal(t, len(frame)-16, h.BodyLen)

		body := make([]interface{}, 7)
		require.NoError(t, codec.ReadBody(body))
		assert.Equal(t, "2.0.2", body[0])
		assert.Equal(t, "org.meshproto.demo.GreetingService", body[1])
		assert.Equal(t, "1.0.0", body[2])
		assert.Equal(t, "greet", body[3])
		assert.Equal(t, "Ljava/lang/String;ILjava/util/Map;", body[4])
		args := body[5].([]interface{})
		require.Len(t, args, 3)
		assert.Equal(t, "meshproto", args[0])
		assert.Equal(t, int32(3), args[1])
		assert.Equal(t, map[interface{}]interface{}{"k": "v"}, args[2])
		assert.Equal(t, map[string]string{
			"dubbo": "2.0.2", // added by the library's decoder, not sent
			"path":  inv.Service, "interface": inv.Service, "version": "1.0.0", "group": "g1",
			"timeout": "2000", "traceid": "t-1",
		}, body[6])
	}
}

func TestRequestFrameParityWithLibraryPacker(t *testing.T) {
	args := []interface{}{"a", 1, int32(2), int64(3), true, 1.5, []string{"x", "y"}}
	inv := &Invocation{Service: "org.test.Svc", Method: "m", Version: "1.2.3", Group: "grp",
		Args: args, Attachments: map[string]string{"u": "1"}, Timeout: time.Second}
	mine, err := EncodeRequestFrame(42, inv, true)
	require.NoError(t, err)
	theirs, err := hessian.NewHessianCodec(nil).Write(
		hessian.Service{Path: inv.Service, Interface: inv.Service, Version: inv.Version, Group: inv.Group,
			Method: inv.Method, Timeout: inv.Timeout},
		hessian.DubboHeader{SerialID: 2, Type: hessian.PackageRequest_TwoWay, ID: 42},
		hessian.NewRequest(args, map[string]string{"u": "1"}))
	require.NoError(t, err)
	// Header bytes except the body length are identical (attachment map
	// order differs, so lengths match but bytes may not).
	assert.Equal(t, theirs[:16], mine[:16])
	fm, err := ReadFrame(bytes.NewReader(mine))
	require.NoError(t, err)
	ft, err := ReadFrame(bytes.NewReader(theirs))
	require.NoError(t, err)
	rm, err := DecodeRequest(fm)
	require.NoError(t, err)
	rt, err := DecodeRequest(ft)
	require.NoError(t, err)
	assert.Equal(t, rt, rm)
	assert.Equal(t, "Ljava/lang/String;JIJZD[Ljava/lang/String;", rm.ParamTypes)

	// Deterministic: the same invocation always yields the same bytes.
	for i := 0; i < 20; i++ {
		again, err := EncodeRequestFrame(42, inv, true)
		require.NoError(t, err)
		require.Equal(t, mine, again)
	}
}

func TestExplicitParamTypes(t *testing.T) {
	inv := &Invocation{Service: "S", Method: "echo", ParamTypes: "Ljava/lang/Object;", Args: []interface{}{"x"}}
	frame, err := EncodeRequestFrame(1, inv, true)
	require.NoError(t, err)
	f, err := ReadFrame(bytes.NewReader(frame))
	require.NoError(t, err)
	req, err := DecodeRequest(f)
	require.NoError(t, err)
	assert.Equal(t, "Ljava/lang/Object;", req.ParamTypes)
	assert.Equal(t, []interface{}{"x"}, req.Args)
	assert.Equal(t, "", req.Version)
	assert.Equal(t, map[string]string{"path": "S", "interface": "S", "version": ""}, req.Attachments)
}

func TestHeartbeatFramesMatchLibrary(t *testing.T) {
	codec := hessian.NewHessianCodec(nil)
	theirReq, err := codec.Write(hessian.Service{},
		hessian.DubboHeader{SerialID: 2, Type: hessian.PackageHeartbeat, ID: 5}, []interface{}{})
	require.NoError(t, err)
	assert.Equal(t, theirReq, EncodeHeartbeat(5, true))
	assert.Equal(t, []byte{0xda, 0xbb, 0xe2, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 'N'}, EncodeHeartbeat(5, true))

	// The library's response packer appends an extra 'N' to every response
	// body, heartbeats included.
	theirResp, err := codec.Write(hessian.Service{},
		hessian.DubboHeader{SerialID: 2, Type: hessian.PackageHeartbeat, ID: 5, ResponseStatus: hessian.Response_OK}, nil)
	require.NoError(t, err)
	mine := EncodeHeartbeat(5, false)
	assert.Equal(t, []byte{0xda, 0xbb, 0x22, 20, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 'N'}, mine)
	assert.Equal(t, []byte{0xda, 0xbb, 0x22, 20, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 'N', 'N'}, theirResp)

	for _, frame := range [][]byte{mine, EncodeHeartbeat(5, true)} {
		c := libCodec(frame)
		var h hessian.DubboHeader
		require.NoError(t, c.ReadHeader(&h))
		assert.NotZero(t, h.Type&hessian.PackageHeartbeat)
		require.NoError(t, c.ReadBody(nil))
	}
	resp, err := EncodeResponseFrame(5, nil, true)
	require.NoError(t, err)
	assert.Equal(t, mine, resp)
}

func TestResponseFramesMatchLibrary(t *testing.T) {
	codec := hessian.NewHessianCodec(nil)
	okHeader := hessian.DubboHeader{SerialID: 2, Type: hessian.PackageResponse, ID: 9, ResponseStatus: hessian.Response_OK}
	cases := []struct {
		name   string
		mine   *ServerResponse
		theirs interface{}
		header hessian.DubboHeader
	}{
		{"value", &ServerResponse{Value: "hello"}, hessian.NewResponse("hello", nil, nil), okHeader},
		{"map value", &ServerResponse{Value: map[string]interface{}{"a": int64(1)}},
			hessian.NewResponse(map[string]interface{}{"a": int64(1)}, nil, nil), okHeader},
		{"null", &ServerResponse{}, hessian.NewResponse(nil, nil, nil), okHeader},
		{"exception", &ServerResponse{Exception: "boom"},
			hessian.NewResponse(nil, java_exception.NewRuntimeException("boom"), nil), okHeader},
		{"value with attachments", &ServerResponse{Value: "v", Attachments: map[string]string{"dubbo": "2.0.2"}},
			hessian.NewResponse("v", nil, map[string]string{"dubbo": "2.0.2"}), okHeader},
		{"null with attachments", &ServerResponse{Attachments: map[string]string{"dubbo": "2.0.2"}},
			hessian.NewResponse(nil, nil, map[string]string{"dubbo": "2.0.2"}), okHeader},
		{"exception with attachments", &ServerResponse{Exception: "e", Attachments: map[string]string{"dubbo": "2.0.2"}},
			hessian.NewResponse(nil, java_exception.NewRuntimeException("e"), map[string]string{"dubbo": "2.0.2"}), okHeader},
		{"service error", &ServerResponse{Status: 70, ErrorMessage: "not found"},
			hessian.NewResponse(nil, errors.New("not found"), nil),
			hessian.DubboHeader{SerialID: 2, Type: hessian.PackageResponse, ID: 9, ResponseStatus: 70}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			theirs, err := codec.Write(hessian.Service{}, tc.header, tc.theirs)
			require.NoError(t, err)
			withNull := *tc.mine
			withNull.TrailingNull = true
			mine, err := EncodeResponseFrame(9, &withNull, false)
			require.NoError(t, err)
			assert.Equal(t, theirs, mine, "with TrailingNull the bytes equal the library's")
			plain, err := EncodeResponseFrame(9, tc.mine, false)
			require.NoError(t, err)
			assert.Equal(t, mine[16:len(mine)-1], plain[16:], "without it, one byte shorter")

			// Both decode the same with our decoder and the library's.
			for _, frame := range [][]byte{plain, theirs} {
				f, err := ReadFrame(bytes.NewReader(frame))
				require.NoError(t, err)
				res, err := DecodeResponse(f)
				require.NoError(t, err)
				assert.Equal(t, uint64(9), res.RequestID)
				assert.Equal(t, tc.mine.Exception, res.Exception)
				assert.Equal(t, tc.mine.ErrorMessage, res.ErrorMessage)

				c := libCodec(frame)
				var h hessian.DubboHeader
				require.NoError(t, c.ReadHeader(&h))
				var out interface{}
				lr := &hessian.Response{RspObj: &out}
				require.NoError(t, c.ReadBody(lr))
				switch {
				case tc.mine.Status != 0:
					assert.EqualError(t, lr.Exception, "java exception:"+tc.mine.ErrorMessage)
				case tc.mine.Exception != "":
					require.Error(t, lr.Exception)
					assert.Equal(t, tc.mine.Exception, lr.Exception.Error())
				default:
					assert.NoError(t, lr.Exception)
					if tc.mine.Value != nil {
						assert.NotNil(t, out)
					}
				}
				if len(tc.mine.Attachments) > 0 {
					assert.Equal(t, map[string]string{"dubbo": "2.0.2"}, lr.Attachments)
				}
			}
		})
	}
}

func TestResponseAttachmentsAddDubboVersion(t *testing.T) {
	b, err := EncodeResponseFrame(3, &ServerResponse{Value: int32(1), Attachments: map[string]string{"b": "2", "a": "1"}}, false)
	require.NoError(t, err)
	// body: int 4 (0x94), int 1 (0x91), 'H', "a" "1" "b" "2" "dubbo" "2.0.2", 'Z'
	want := []byte{0x94, 0x91, 'H', 1, 'a', 1, '1', 1, 'b', 1, '2', 5, 'd', 'u', 'b', 'b', 'o', 5, '2', '.', '0', '.', '2', 'Z'}
	assert.Equal(t, want, b[16:])
	assert.Equal(t, []byte{0xda, 0xbb, 0x02, 20}, b[:4])
}

// TestLibraryCodecQuirks pins behaviour of dubbo-go-hessian2 v1.10.2 that
// codec authors rely on.
func TestLibraryCodecQuirks(t *testing.T) {
	codec := hessian.NewHessianCodec(nil)
	// A two-way request must use Type == PackageRequest_TwoWay exactly;
	// the value ReadHeader produces (PackageRequest|PackageRequest_TwoWay)
	// is rejected by Write.
	_, err := codec.Write(hessian.Service{}, hessian.DubboHeader{SerialID: 2,
		Type: hessian.PackageRequest | hessian.PackageRequest_TwoWay}, []interface{}{})
	assert.Error(t, err)
	// Response attachments are only written when the map carries a
	// "dubbo" version >= 2.0.2; otherwise they are silently dropped.
	b, err := codec.Write(hessian.Service{}, hessian.DubboHeader{SerialID: 2, Type: hessian.PackageResponse,
		ResponseStatus: 20}, hessian.NewResponse("v", nil, map[string]string{"k": "v"}))
	require.NoError(t, err)
	assert.Equal(t, []byte{0x91, 0x01, 'v', 'N'}, b[16:])
}

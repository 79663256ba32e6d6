module github.com/meshproto/meshproto/examples/thrift

go 1.26.8

require github.com/apache/thrift v0.17.0

require (
	github.com/meshproto/meshproto v0.0.0
	mosn.io/pkg v1.3.0
)

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/c2h5oh/datasize v0.0.0-20171227191756-4eba002a5eae // indirect
	github.com/golang/protobuf v1.5.0 // indirect
	github.com/hashicorp/go-syslog v1.0.0 // indirect
	github.com/rcrowley/go-metrics v0.0.0-20200313005456-10cdbea86bc0 // indirect
	golang.org/x/crypto v0.28.0 // indirect
	golang.org/x/sys v0.26.0 // indirect
	google.golang.org/protobuf v1.27.1 // indirect
	gopkg.in/natefinch/lumberjack.v2 v2.0.0 // indirect
	mosn.io/api v1.3.0 // indirect
	mosn.io/mosn v1.3.0 // indirect
	mosn.io/proxy-wasm-go-host v0.2.1-0.20221123073237-4f948bf02510 // indirect
)

replace github.com/meshproto/meshproto => ../..

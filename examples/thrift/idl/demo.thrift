// Demo IDL for the MOSN Thrift codec peers (examples/thrift).
// Regenerate with `make gen` (Debian thrift-compiler 0.17.0).

namespace go demo
namespace py demo

struct GreetRequest {
  1: string name,
  2: map<string, string> meta,
  3: list<i64> nums,
}

struct GreetReply {
  1: string message,
  2: string instance,
  3: string version,
  // THeader read headers the server saw (only when the transport is THeader),
  // plus "x-notify-count" (number of oneway notify calls received so far).
  4: map<string, string> headers,
}

exception GreetError {
  1: string reason,
  2: i32 code,
}

service Greeter {
  GreetReply greet(1: GreetRequest req) throws (1: GreetError err),
  oneway void notify(1: string msg),
  string echo(1: string s),
  i32 sleepMs(1: i32 ms),
}

service Calculator {
  i64 add(1: i64 a, 2: i64 b),
  i64 divide(1: i64 a, 2: i64 b) throws (1: GreetError err),
}

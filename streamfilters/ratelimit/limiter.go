package ratelimit

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
)

// rule is a RuleConfig checked and compiled, with its buckets. Times are
// nanoseconds on the Factory's clock.
type rule struct {
	index  int
	match  *rpcmatch.Matcher
	kind   keyKind
	header string

	// interval is the time one token takes to refill; limit is burst
	// intervals, how far ahead of now a bucket may be booked.
	interval, limit int64

	errCfg    rpcmeta.ErrorConfig
	customMsg bool // errCfg.Message set by the operator

	single *bucket // keyNone
	keys   *table  // every other kind

	limited, overflowed atomic.Uint64
}

// bucket is a token bucket kept as GCRA: tat (theoretical arrival time) is
// when the bucket will be full again. A request at now books one interval
// after max(tat, now), and is allowed when that is at most limit ahead of
// now; the tokens left are (now + limit - tat) / interval. One atomic word,
// updated by compare-and-swap: no lock, and a rejected request changes
// nothing.
type bucket struct {
	tat atomic.Int64
	// msg is the default reject message naming the rule and key, made
	// once when the bucket is; "" when the operator set one.
	msg string
}

// take reports whether a token was available at now, and takes it.
func (b *bucket) take(now, interval, limit int64) bool {
	for {
		tat := b.tat.Load()
		next := max(tat, now) + interval
		if next-now > limit {
			return false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// idle reports whether the bucket has been full since before now, so that
// dropping it and making a new one later changes nothing. A new bucket
// starts with tat = now: full, but not idle at the instant it was made,
// so a sweep at that instant cannot drop it before its first request.
func (b *bucket) idle(now int64) bool { return b.tat.Load() < now }

// Key tables.
const (
	shardCount = 64
	// keyBufLen is the stack buffer a key is built in; longer keys
	// cost an allocation per request.
	keyBufLen = 256
	// sweepEvery is how often, at most, a full table looks for idle
	// buckets, in nanoseconds.
	sweepEvery = int64(1e9)
)

// table holds a keyed rule's buckets: a map per shard, chosen by the key's
// hash, read under the shard's read lock, written only when a key is new.
type table struct {
	seed     maphash.Seed
	max      int64
	n        atomic.Int64 // buckets in all shards
	overflow bucket
	// nextSweep is when a full table may next look for idle buckets.
	nextSweep atomic.Int64
	shards    [shardCount]shard
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*bucket
	_  [32]byte // one shard per 64-byte cache line
}

func newTable(maxKeys int64, overflowMsg string) *table {
	t := &table{seed: maphash.MakeSeed(), max: maxKeys}
	t.overflow.msg = overflowMsg
	return t
}

// reserve counts one more bucket, unless the table is full.
func (t *table) reserve() bool {
	for {
		n := t.n.Load()
		if n >= t.max {
			return false
		}
		if t.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// sweep drops the idle buckets of every shard, unless another sweep ran
// less than sweepEvery ago or is running; it reports whether it ran. The
// caller holds no shard lock: sweep takes them one at a time.
//
// A request that looked a bucket up just before it was dropped may still
// take a token from it: then that key gets one token more than its burst,
// once.
func (t *table) sweep(now int64) bool {
	next := t.nextSweep.Load()
	if now < next || !t.nextSweep.CompareAndSwap(next, now+sweepEvery) {
		return false
	}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, b := range s.m {
			if b.idle(now) {
				delete(s.m, k)
				t.n.Add(-1)
			}
		}
		s.mu.Unlock()
	}
	return true
}

// keys reports the number of buckets in the table.
func (t *table) keys() int { return int(t.n.Load()) }

// bucket returns the bucket req takes a token from. Once a key has its
// bucket this does not allocate.
func (r *rule) bucket(req rpcmeta.Request, now int64) *bucket {
	if r.keys == nil {
		return r.single
	}
	var arr [keyBufLen]byte
	key := r.appendKey(arr[:0], req)
	t := r.keys
	s := &t.shards[maphash.Bytes(t.seed, key)%shardCount]
	s.mu.RLock()
	b := s.m[string(key)]
	s.mu.RUnlock()
	if b != nil {
		return b
	}
	return r.add(s, key, req, now)
}

// appendKey appends req's key to buf. The service and method are
// separated by a NUL byte, which no service name contains, so that
// ("ab", "c") and ("a", "bc") are different keys.
func (r *rule) appendKey(buf []byte, req rpcmeta.Request) []byte {
	switch r.kind {
	case keyService:
		buf = append(buf, req.Service()...)
	case keyServiceMethod:
		buf = append(buf, req.Service()...)
		buf = append(buf, 0)
		buf = append(buf, req.Method()...)
	case keyHeader:
		v, _ := req.Get(r.header)
		buf = append(buf, v...)
	}
	return buf
}

// add makes the bucket of a new key in shard s, or returns the overflow
// bucket when the table is full. A full table sweeps for idle buckets at
// most every sweepEvery; between sweeps a new key goes to the overflow
// bucket without taking a lock, so a flood of new keys does not serialize
// on one.
func (r *rule) add(s *shard, key []byte, req rpcmeta.Request, now int64) *bucket {
	t := r.keys
	if t.n.Load() >= t.max && !t.sweep(now) {
		return &t.overflow
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.m[string(key)]; b != nil {
		return b
	}
	if !t.reserve() {
		return &t.overflow
	}
	b := &bucket{msg: r.message(r.describe(req))}
	b.tat.Store(now)
	if s.m == nil {
		s.m = make(map[string]*bucket)
	}
	s.m[string(key)] = b
	return b
}

// maxShownValue bounds a header value quoted in a reject message.
const maxShownValue = 64

// describe names req's key for the reject message.
func (r *rule) describe(req rpcmeta.Request) string {
	switch r.kind {
	case keyService:
		return "service " + strconv.Quote(req.Service())
	case keyServiceMethod:
		return "service " + strconv.Quote(req.Service()) + " method " + strconv.Quote(req.Method())
	case keyHeader:
		v, _ := req.Get(r.header)
		if len(v) > maxShownValue {
			v = v[:maxShownValue] + "..."
		}
		return r.header + " " + strconv.Quote(v)
	}
	return ""
}

// message is the default reject message, "" when the operator set one.
func (r *rule) message(key string) string {
	if r.customMsg {
		return ""
	}
	if key == "" {
		return fmt.Sprintf("meshproto: rate limited (rules[%d])", r.index)
	}
	return fmt.Sprintf("meshproto: rate limited (rules[%d], %s)", r.index, key)
}

package redis_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/locking/lockingtest"
	"github.com/atollhq/atoll/locking/redis"
)

// prefixes makes a fresh key prefix per store so tests can share one server.
var prefixes atomic.Int64

func newPrefix() string {
	return fmt.Sprintf("atolltest%d:", prefixes.Add(1))
}

func open(t testing.TB, opts redis.Options) *redis.Store {
	t.Helper()
	s, err := redis.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("redis.New(%v): %v", opts, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisServer(t)
	lockingtest.Run(t, func(t *testing.T, now func() time.Time) locking.Store {
		return open(t, redis.Options{Addr: addr, Prefix: newPrefix(), Now: now})
	})
}

func TestReopen(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisServer(t)
	prefix := newPrefix()
	lockingtest.RunReopen(t, func(t *testing.T) locking.Store {
		return open(t, redis.Options{Addr: addr, Prefix: prefix})
	})
}

func TestProcessRace(t *testing.T) {
	lockingtest.RunProcessRace(t, 4,
		func(t *testing.T) string { return testenv.RedisServer(t) + " " + newPrefix() },
		func(t *testing.T, shared string) locking.Store {
			addr, prefix, _ := strings.Cut(shared, " ")
			return open(t, redis.Options{Addr: addr, Prefix: prefix})
		})
}

func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisServer(t)
	ctx := context.Background()
	a := open(t, redis.Options{Addr: addr, Prefix: "one:"})
	defer a.Close()
	b := open(t, redis.Options{Addr: addr}) // DefaultPrefix
	defer b.Close()
	k := locking.Key{Repo: "github.com/acme/infra", Dir: ".", Workspace: "default"}
	if err := a.Acquire(ctx, []locking.Lock{{Key: k, Pull: 1}}); err != nil {
		t.Fatal(err)
	}
	// The same key under another prefix is a different lock.
	if err := b.Acquire(ctx, []locking.Lock{{Key: k, Pull: 2}}); err != nil {
		t.Fatalf("Acquire under the default prefix: %v", err)
	}
	for _, tt := range []struct {
		s    *redis.Store
		pull int
	}{{a, 1}, {b, 2}} {
		got, err := tt.s.List(ctx, locking.Filter{})
		if err != nil || len(got) != 1 || got[0].Pull != tt.pull {
			t.Errorf("List = %v, %v; want only the lock of #%d", got, err, tt.pull)
		}
	}
	// Keys really carry the prefixes.
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	for _, want := range []string{"one:lock:" + k.String(), redis.DefaultPrefix + "lock:" + k.String()} {
		if n, err := c.Exists(ctx, want).Result(); err != nil || n != 1 {
			t.Errorf("EXISTS %q = %d, %v; want 1", want, n, err)
		}
	}
}

func TestNewUnreachable(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: bind one, note it, close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = redis.New(ctx, redis.Options{Addr: addr, Password: "hunter2-secret"})
	if err == nil {
		t.Fatalf("redis.New(%s) = nil error, want a connection error", addr)
	}
	msg := err.Error()
	if !strings.Contains(msg, "connect to redis at "+addr) {
		t.Errorf("error %q does not say it could not connect to %s", msg, addr)
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error %q leaks the password", msg)
	}
}

func TestNewWrongPassword(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisServer(t)
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.ConfigSet(ctx, "requirepass", "right-secret").Err(); err != nil {
		t.Fatalf("CONFIG SET requirepass: %v", err)
	}
	_, err := redis.New(ctx, redis.Options{Addr: addr, Password: "wrong-secret"})
	if err == nil {
		t.Fatal("redis.New with a wrong password = nil error")
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error %q leaks the password", err)
	}
	s := open(t, redis.Options{Addr: addr, Password: "right-secret", DB: 3})
	defer s.Close()
	k := locking.Key{Repo: "github.com/acme/infra", Dir: ".", Workspace: "default"}
	if err := s.Acquire(ctx, []locking.Lock{{Key: k, Pull: 1}}); err != nil {
		t.Fatalf("Acquire with the right password in db 3: %v", err)
	}
}

func TestOptionsStringRedactsPassword(t *testing.T) {
	t.Parallel()
	o := redis.Options{Addr: "127.0.0.1:6379", Password: "s3cret", Prefix: "p:"}
	for _, verb := range []string{"%v", "%+v", "%s"} {
		got := fmt.Sprintf(verb, o)
		if strings.Contains(got, "s3cret") || !strings.Contains(got, "REDACTED") {
			t.Errorf("Sprintf(%q, opts) = %q, want the password redacted", verb, got)
		}
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	s := open(b, redis.Options{Addr: testenv.RedisServer(b), Prefix: newPrefix()})
	defer s.Close()
	lockingtest.BenchAcquireRelease(b, s)
}

func BenchmarkContention64(b *testing.B) {
	s := open(b, redis.Options{Addr: testenv.RedisServer(b), Prefix: newPrefix()})
	defer s.Close()
	lockingtest.BenchContention(b, s, 64)
}

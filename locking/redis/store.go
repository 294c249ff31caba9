// Package redis is Atoll's shared lock store: locking.Store on a Redis server,
// for several Atoll replicas behind one webhook address. Multi-key changes run as
// Lua scripts, so Acquire is all-or-nothing and atomic across replicas.
//
// Key layout, under Options.Prefix (P):
//
//	P lock:<key>            hash {pull, time, rec}: one held lock (<key> is locking.Key.String())
//	P pull:<repo>|<pull>    set of <key>: the locks a PR holds, for ReleasePull and List by PR
//	P plans:<repo>|<pull>   hash {"m|"+<key>: plan JSON without data, "d|"+<key>: plan file bytes}
//	P queue:<key> ...       the lock queues (queue.go)
//
// <repo> is query-escaped, so it never contains "|". A write made under a
// locking.Fence (a job holding a replica's lease on its PR) is a WATCH/MULTI
// transaction that runs only while the fence's key holds its token (fence.go).
// The scripts derive some key
// names from others, so the store needs a single Redis server (or primary), not
// Redis Cluster.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/atollhq/atoll/locking"
)

// DefaultPrefix is the key namespace used when Options.Prefix is empty.
const DefaultPrefix = "atoll:"

// Options configures a Store.
type Options struct {
	// Addr is the server's "host:port".
	Addr string
	// Password authenticates to the server; empty for none. Never logged.
	Password string
	// DB is the database number.
	DB int
	// TLS enables TLS with this configuration when non-nil.
	TLS *tls.Config
	// Prefix namespaces every key; DefaultPrefix when empty.
	Prefix string
	// Now returns the current time; time.Now when nil. Used for lock and plan times.
	Now func() time.Time
}

// String describes the options with the password redacted, so printing them
// with %v or %+v cannot leak it.
func (o Options) String() string {
	pw := ""
	if o.Password != "" {
		pw = " password=REDACTED"
	}
	return fmt.Sprintf("redis addr=%s db=%d tls=%t prefix=%q%s", o.Addr, o.DB, o.TLS != nil, o.Prefix, pw)
}

// Store is a locking.Store in Redis. It is safe for concurrent use by many
// goroutines and many processes sharing one server and prefix.
type Store struct {
	client *goredis.Client
	prefix string
	now    func() time.Time
}

var _ locking.Store = (*Store)(nil)

// New connects to the server in opts and checks it answers PING.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Addr == "" {
		return nil, errors.New("connect to redis: no address")
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	client := goredis.NewClient(&goredis.Options{
		Addr:      opts.Addr,
		Password:  opts.Password,
		DB:        opts.DB,
		TLSConfig: opts.TLS,
		// Plain Redis servers have no maintenance notifications; asking for
		// them only adds a handshake step.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("connect to redis at %s (db %d): %w", opts.Addr, opts.DB, err)
	}
	return &Store{client: client, prefix: prefix, now: now}, nil
}

// Client returns the store's Redis client, so other shared state (the cluster
// work queue) can use the same connection pool. Closing the store closes it.
func (s *Store) Client() *goredis.Client { return s.client }

// Prefix returns the key namespace, for other shared state to live beside the locks.
func (s *Store) Prefix() string { return s.prefix }

// Close closes the connections to the server.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("close redis client: %w", err)
	}
	return nil
}

// lockKey is the Redis key of the lock with key string id.
func (s *Store) lockKey(id string) string { return s.prefix + "lock:" + id }

// pullIndexPrefix is the start of the index keys of repo's PRs.
func (s *Store) pullIndexPrefix(repo string) string {
	return s.prefix + "pull:" + url.QueryEscape(repo) + "|"
}

// pullIndexKey is the Redis key of the set of lock key strings pull holds in repo.
func (s *Store) pullIndexKey(repo string, pull int) string {
	return s.pullIndexPrefix(repo) + strconv.Itoa(pull)
}

// plansKey is the Redis key of the hash of pull's plan records in repo.
func (s *Store) plansKey(repo string, pull int) string {
	return s.prefix + "plans:" + url.QueryEscape(repo) + "|" + strconv.Itoa(pull)
}

// globEscape escapes s for a SCAN MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/locking"
)

// acquireScript takes every lock or none. KEYS holds a lock key and its PR's
// index key per lock; ARGV holds pull, time, record and key string per lock.
// It returns 0, or {i, pull, time, rec} for the first lock held by another PR.
var acquireScript = goredis.NewScript(`
local n = #KEYS / 2
for i = 1, n do
  local held = redis.call('HGET', KEYS[2*i-1], 'pull')
  if held and held ~= ARGV[4*i-3] then
    local h = redis.call('HMGET', KEYS[2*i-1], 'pull', 'time', 'rec')
    return {i, h[1], h[2], h[3]}
  end
end
for i = 1, n do
  local k = KEYS[2*i-1]
  if redis.call('EXISTS', k) == 1 then
    redis.call('HSET', k, 'rec', ARGV[4*i-1])
  else
    redis.call('HSET', k, 'pull', ARGV[4*i-3], 'time', ARGV[4*i-2], 'rec', ARGV[4*i-1])
  end
  redis.call('SADD', KEYS[2*i], ARGV[4*i])
end
return 0
`)

// releaseScript releases KEYS[1] if ARGV[1] (or anyone, for "0") holds it and
// removes ARGV[3], its key string, from the holder's index ARGV[2]..pull.
// It returns {0} if free, {1, pull, time, rec} if released and
// {2, pull, time, rec} if another PR holds it.
var releaseScript = goredis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'pull', 'time', 'rec')
if not h[1] then return {0} end
if ARGV[1] ~= '0' and h[1] ~= ARGV[1] then return {2, h[1], h[2], h[3]} end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[2] .. h[1], ARGV[3])
return {1, h[1], h[2], h[3]}
`)

// releasePullScript releases every lock in the index KEYS[1] still held by
// ARGV[1] (lock keys are ARGV[2]..member) and deletes the index. It returns
// {pull, time, rec, ...} for each released lock.
var releasePullScript = goredis.NewScript(`
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[2] .. m
  local h = redis.call('HMGET', k, 'pull', 'time', 'rec')
  if h[1] == ARGV[1] then
    redis.call('DEL', k)
    table.insert(out, h[1])
    table.insert(out, h[2])
    table.insert(out, h[3])
  end
end
redis.call('DEL', KEYS[1])
return out
`)

// lockRecord is the JSON in a lock's "rec" field: everything but pull and time,
// which live in their own fields so the scripts can read and keep them.
type lockRecord struct {
	Repo      string `json:"repo"`
	Dir       string `json:"dir"`
	Workspace string `json:"workspace"`
	PullURL   string `json:"pull_url,omitempty"`
	HeadSHA   string `json:"head_sha,omitempty"`
	User      string `json:"user,omitempty"`
	Project   string `json:"project,omitempty"`
}

// decodeLock builds a lock from its pull, time and rec fields.
func decodeLock(pull, tm, rec any) (locking.Lock, error) {
	ps, _ := pull.(string)
	ts, _ := tm.(string)
	rs, _ := rec.(string)
	p, err := strconv.Atoi(ps)
	if err != nil {
		return locking.Lock{}, fmt.Errorf("decode lock: bad pull %q", ps)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return locking.Lock{}, fmt.Errorf("decode lock: bad time %q", ts)
	}
	var r lockRecord
	if err := json.Unmarshal([]byte(rs), &r); err != nil {
		return locking.Lock{}, fmt.Errorf("decode lock: %w", err)
	}
	return locking.Lock{
		Key:  locking.Key{Repo: r.Repo, Dir: r.Dir, Workspace: r.Workspace},
		Pull: p, PullURL: r.PullURL, HeadSHA: r.HeadSHA, User: r.User, Project: r.Project,
		Time: t,
	}, nil
}

// Acquire takes every lock in locks or none, atomically on the server. A lock
// the same PR already holds is refreshed (HeadSHA, PullURL, User, Project) and
// keeps its Time; a new lock gets its Time from the store's clock unless the
// caller set one.
func (s *Store) Acquire(ctx context.Context, locks []locking.Lock) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("acquire locks: %w", err)
	}
	if err := locking.ValidateLocks(locks); err != nil {
		return fmt.Errorf("acquire locks: %w", err)
	}
	if len(locks) == 0 {
		return nil
	}
	now := s.now()
	keys := make([]string, 0, 2*len(locks))
	args := make([]any, 0, 4*len(locks))
	for _, l := range locks {
		rec, err := json.Marshal(lockRecord{
			Repo: l.Key.Repo, Dir: l.Key.Dir, Workspace: l.Key.Workspace,
			PullURL: l.PullURL, HeadSHA: l.HeadSHA, User: l.User, Project: l.Project,
		})
		if err != nil {
			return fmt.Errorf("acquire locks: encode %s: %w", l.Key, err)
		}
		t := l.Time
		if t.IsZero() {
			t = now
		}
		id := l.Key.String()
		keys = append(keys, s.lockKey(id), s.pullIndexKey(l.Key.Repo, l.Pull))
		args = append(args, strconv.Itoa(l.Pull), t.UTC().Format(time.RFC3339Nano), string(rec), id)
	}
	var cmd *goredis.Cmd
	err := s.write(ctx, func(p goredis.Pipeliner) error {
		cmd = acquireScript.Eval(ctx, p, keys, args...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("acquire locks: %w", err)
	}
	res, err := cmd.Result()
	if err != nil {
		return fmt.Errorf("acquire locks: %w", err)
	}
	if n, ok := res.(int64); ok && n == 0 {
		return nil
	}
	v, ok := res.([]any)
	if !ok || len(v) != 4 {
		return fmt.Errorf("acquire locks: unexpected reply %T", res)
	}
	held, err := decodeLock(v[1], v[2], v[3])
	if err != nil {
		return fmt.Errorf("acquire locks: %w", err)
	}
	return fmt.Errorf("acquire locks: %w", &locking.HeldError{Held: held})
}

// Release releases the lock at key if pull holds it, or whoever holds it when
// pull is 0. It returns the released lock, or the holder with ErrNotOwner.
func (s *Store) Release(ctx context.Context, key locking.Key, pull int) (locking.Lock, error) {
	if err := ctx.Err(); err != nil {
		return locking.Lock{}, fmt.Errorf("release lock %s: %w", key, err)
	}
	id := key.String()
	var cmd *goredis.Cmd
	err := s.write(ctx, func(p goredis.Pipeliner) error {
		cmd = releaseScript.Eval(ctx, p, []string{s.lockKey(id)}, strconv.Itoa(pull), s.pullIndexPrefix(key.Repo), id)
		return nil
	})
	if err != nil {
		return locking.Lock{}, fmt.Errorf("release lock %s: %w", key, err)
	}
	res, err := cmd.Slice()
	if err != nil {
		return locking.Lock{}, fmt.Errorf("release lock %s: %w", key, err)
	}
	status, _ := res[0].(int64)
	if status == 0 {
		return locking.Lock{}, fmt.Errorf("release lock %s: %w", key, locking.ErrNotFound)
	}
	if len(res) != 4 {
		return locking.Lock{}, fmt.Errorf("release lock %s: unexpected reply of %d values", key, len(res))
	}
	l, err := decodeLock(res[1], res[2], res[3])
	if err != nil {
		return locking.Lock{}, fmt.Errorf("release lock %s: %w", key, err)
	}
	if status == 2 {
		return l, fmt.Errorf("release lock %s: %w", key, locking.ErrNotOwner)
	}
	return l, nil
}

// ReleasePull releases every lock pull holds in repo and returns them sorted by key.
func (s *Store) ReleasePull(ctx context.Context, repo string, pull int) ([]locking.Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("release locks of %s#%d: %w", repo, pull, err)
	}
	var cmd *goredis.Cmd
	err := s.write(ctx, func(p goredis.Pipeliner) error {
		cmd = releasePullScript.Eval(ctx, p, []string{s.pullIndexKey(repo, pull)}, strconv.Itoa(pull), s.lockKey(""))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("release locks of %s#%d: %w", repo, pull, err)
	}
	res, err := cmd.Slice()
	if err != nil {
		return nil, fmt.Errorf("release locks of %s#%d: %w", repo, pull, err)
	}
	out := make([]locking.Lock, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		l, err := decodeLock(res[i], res[i+1], res[i+2])
		if err != nil {
			return nil, fmt.Errorf("release locks of %s#%d: %w", repo, pull, err)
		}
		out = append(out, l)
	}
	sortLocks(out)
	return out, nil
}

// Get returns the lock at key or an error wrapping locking.ErrNotFound.
func (s *Store) Get(ctx context.Context, key locking.Key) (locking.Lock, error) {
	v, err := s.client.HMGet(ctx, s.lockKey(key.String()), "pull", "time", "rec").Result()
	if err != nil {
		return locking.Lock{}, fmt.Errorf("get lock %s: %w", key, err)
	}
	if v[0] == nil {
		return locking.Lock{}, fmt.Errorf("get lock %s: %w", key, locking.ErrNotFound)
	}
	l, err := decodeLock(v[0], v[1], v[2])
	if err != nil {
		return locking.Lock{}, fmt.Errorf("get lock %s: %w", key, err)
	}
	return l, nil
}

// List returns the locks passing f, sorted by key string. With a repo and a
// pull it reads that PR's index; with only a pull it scans the index keys of
// that pull number; otherwise it scans the lock keys (of the repo, if set).
func (s *Store) List(ctx context.Context, f locking.Filter) ([]locking.Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	var lockKeys []string
	var err error
	switch {
	case f.Pull != 0 && f.Repo != "":
		lockKeys, err = s.indexed(ctx, []string{s.pullIndexKey(f.Repo, f.Pull)})
	case f.Pull != 0:
		var idx []string
		idx, err = s.scan(ctx, globEscape(s.prefix+"pull:")+"*"+globEscape("|"+strconv.Itoa(f.Pull)))
		if err == nil {
			lockKeys, err = s.indexed(ctx, idx)
		}
	case f.Repo != "":
		lockKeys, err = s.scan(ctx, globEscape(s.lockKey(url.QueryEscape(f.Repo)+"|"))+"*")
	default:
		lockKeys, err = s.scan(ctx, globEscape(s.lockKey(""))+"*")
	}
	if err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	out, err := s.fetch(ctx, lockKeys, f)
	if err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	return out, nil
}

// scan returns every key matching the glob pattern.
func (s *Store) scan(ctx context.Context, pattern string) ([]string, error) {
	var out []string
	it := s.client.Scan(ctx, 0, pattern, 500).Iterator()
	for it.Next(ctx) {
		out = append(out, it.Val())
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("scan %q: %w", pattern, err)
	}
	return out, nil
}

// indexed returns the lock keys named in the index sets idx.
func (s *Store) indexed(ctx context.Context, idx []string) ([]string, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.StringSliceCmd, len(idx))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range idx {
			cmds[i] = p.SMembers(ctx, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read lock index: %w", err)
	}
	var out []string
	for _, c := range cmds {
		for _, id := range c.Val() {
			out = append(out, s.lockKey(id))
		}
	}
	return out, nil
}

// fetch reads the locks at lockKeys that pass f, skipping ones released meanwhile.
func (s *Store) fetch(ctx context.Context, lockKeys []string, f locking.Filter) ([]locking.Lock, error) {
	out := []locking.Lock{}
	if len(lockKeys) == 0 {
		return out, nil
	}
	cmds := make([]*goredis.SliceCmd, len(lockKeys))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range lockKeys {
			cmds[i] = p.HMGet(ctx, k, "pull", "time", "rec")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read locks: %w", err)
	}
	for _, c := range cmds {
		v := c.Val()
		if len(v) != 3 || v[0] == nil {
			continue
		}
		l, err := decodeLock(v[0], v[1], v[2])
		if err != nil {
			return nil, err
		}
		if f.Match(l) {
			out = append(out, l)
		}
	}
	sortLocks(out)
	return out, nil
}

// sortLocks sorts locks by key string.
func sortLocks(locks []locking.Lock) {
	slices.SortFunc(locks, func(a, b locking.Lock) int { return cmp.Compare(a.Key.String(), b.Key.String()) })
}

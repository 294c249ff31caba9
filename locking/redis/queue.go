package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/locking"
)

// Lock queues, under the store's prefix P:
//
//	P queue:<key>           sorted set of pull numbers, scored by arrival (P queueseq)
//	P queuerec:<key>        hash {"r|"+pull: entry JSON (a lock record), "t|"+pull: time queued, "c|"+pull: comment ID}
//	P queued:<repo>|<pull>  set of <key>: the queues a PR waits in, for DequeuePull
//
// An entry's JSON is the lock record the PR gets on handover, so the
// handover script moves it into the lock as it is.

var _ locking.LockQueue = (*Store)(nil)

// enqueueScript adds ARGV[1] (pull) to the queue KEYS[1] with its record
// KEYS[2], or updates its record in place; KEYS[3] is the PR's queued index,
// KEYS[4] the arrival counter. ARGV: pull, rec, time, key string, comment
// ID ("0" keeps the stored one). It returns the 1-based position.
var enqueueScript = goredis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local seq = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[1], seq, ARGV[1])
  redis.call('HSET', KEYS[2], 't|' .. ARGV[1], ARGV[3])
end
redis.call('HSET', KEYS[2], 'r|' .. ARGV[1], ARGV[2])
if ARGV[5] ~= '0' then
  redis.call('HSET', KEYS[2], 'c|' .. ARGV[1], ARGV[5])
end
redis.call('SADD', KEYS[3], ARGV[4])
return redis.call('ZRANK', KEYS[1], ARGV[1]) + 1
`)

// queueScript reads the queue KEYS[1] with its records KEYS[2]: {pull, rec,
// time, comment ID, ...} in order.
var queueScript = goredis.NewScript(`
local out = {}
for _, p in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HMGET', KEYS[2], 'r|' .. p, 't|' .. p, 'c|' .. p)
  table.insert(out, p)
  table.insert(out, h[1] or '')
  table.insert(out, h[2] or '')
  table.insert(out, h[3] or '0')
end
return out
`)

// dequeueScript removes ARGV[1] (pull) from the queue KEYS[1], its record
// from KEYS[2] and ARGV[2] (key string) from its queued index KEYS[3].
var dequeueScript = goredis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], 'r|' .. ARGV[1], 't|' .. ARGV[1], 'c|' .. ARGV[1])
redis.call('SREM', KEYS[3], ARGV[2])
return 0
`)

// dequeuePullScript removes ARGV[1] (pull) from every queue named in its
// queued index KEYS[1] (queue keys are ARGV[2]..member, records
// ARGV[3]..member) and deletes the index. It returns the key strings of the
// queues it left.
var dequeuePullScript = goredis.NewScript(`
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('ZREM', ARGV[2] .. m, ARGV[1]) == 1 then
    table.insert(out, m)
  end
  redis.call('HDEL', ARGV[3] .. m, 'r|' .. ARGV[1], 't|' .. ARGV[1], 'c|' .. ARGV[1])
end
redis.call('DEL', KEYS[1])
return out
`)

// handoverScript gives the free lock KEYS[1] to the first PR of the queue
// KEYS[2] (records KEYS[3]). ARGV: time, lock index prefix, queued index
// prefix, key string. It returns {0} when the lock is held or the queue
// empty, else {1, pull, time, rec}.
var handoverScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local first = redis.call('ZRANGE', KEYS[2], 0, 0)
if #first == 0 then return {0} end
local p = first[1]
local rec = redis.call('HGET', KEYS[3], 'r|' .. p)
redis.call('ZREM', KEYS[2], p)
redis.call('HDEL', KEYS[3], 'r|' .. p, 't|' .. p, 'c|' .. p)
redis.call('SREM', ARGV[3] .. p, ARGV[4])
if not rec then return {0} end
redis.call('HSET', KEYS[1], 'pull', p, 'time', ARGV[1], 'rec', rec)
redis.call('SADD', ARGV[2] .. p, ARGV[4])
return {1, p, ARGV[1], rec}
`)

func (s *Store) queueKey(id string) string    { return s.prefix + "queue:" + id }
func (s *Store) queueRecKey(id string) string { return s.prefix + "queuerec:" + id }
func (s *Store) queueSeqKey() string          { return s.prefix + "queueseq" }

// queuedIndexPrefix is the prefix of the keys of the sets of queues the PRs
// of repo wait in.
func (s *Store) queuedIndexPrefix(repo string) string {
	return s.prefix + "queued:" + url.QueryEscape(repo) + "|"
}

// Enqueue adds e to the queue of key, or updates pull's entry in place.
func (s *Store) Enqueue(ctx context.Context, key locking.Key, e locking.QueueEntry) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("enqueue #%d for %s: %w", e.Pull, key, err)
	}
	if err := locking.ValidateKey(key); err != nil {
		return 0, fmt.Errorf("enqueue #%d for %s: %w", e.Pull, key, err)
	}
	if e.Pull <= 0 {
		return 0, fmt.Errorf("enqueue for %s: pull %d is not a pull request number", key, e.Pull)
	}
	rec, err := json.Marshal(lockRecord{Repo: key.Repo, Dir: key.Dir, Workspace: key.Workspace,
		PullURL: e.PullURL, HeadSHA: e.HeadSHA, User: e.User, Project: e.Project})
	if err != nil {
		return 0, fmt.Errorf("enqueue #%d for %s: encode: %w", e.Pull, key, err)
	}
	t := e.Time
	if t.IsZero() {
		t = s.now()
	}
	id := key.String()
	pull := strconv.Itoa(e.Pull)
	var cmd *goredis.Cmd
	err = s.write(ctx, func(p goredis.Pipeliner) error {
		cmd = enqueueScript.Eval(ctx, p, []string{s.queueKey(id), s.queueRecKey(id), s.queuedIndexPrefix(key.Repo) + pull, s.queueSeqKey()},
			pull, string(rec), t.UTC().Format(time.RFC3339Nano), id, strconv.FormatInt(e.CommentID, 10))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue #%d for %s: %w", e.Pull, key, err)
	}
	pos, err := cmd.Int()
	if err != nil {
		return 0, fmt.Errorf("enqueue #%d for %s: %w", e.Pull, key, err)
	}
	return pos, nil
}

// decodeEntry builds a queue entry from its pull, record, time and comment ID.
func decodeEntry(pull, rec, tm, comment any) (locking.QueueEntry, error) {
	l, err := decodeLock(pull, tm, rec)
	if err != nil {
		return locking.QueueEntry{}, fmt.Errorf("decode queue entry: %w", err)
	}
	cs, _ := comment.(string)
	id, err := strconv.ParseInt(cs, 10, 64)
	if err != nil {
		return locking.QueueEntry{}, fmt.Errorf("decode queue entry: bad comment ID %q", cs)
	}
	return locking.QueueEntry{Pull: l.Pull, PullURL: l.PullURL, User: l.User, HeadSHA: l.HeadSHA, Project: l.Project, Time: l.Time, CommentID: id}, nil
}

// Queue returns the entries waiting for key.
func (s *Store) Queue(ctx context.Context, key locking.Key) ([]locking.QueueEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read queue of %s: %w", key, err)
	}
	out, err := s.readQueue(ctx, key.String())
	if err != nil {
		return nil, fmt.Errorf("read queue of %s: %w", key, err)
	}
	return out, nil
}

func (s *Store) readQueue(ctx context.Context, id string) ([]locking.QueueEntry, error) {
	res, err := queueScript.Run(ctx, s.client, []string{s.queueKey(id), s.queueRecKey(id)}).Slice()
	if err != nil {
		return nil, err
	}
	out := make([]locking.QueueEntry, 0, len(res)/4)
	for i := 0; i+3 < len(res); i += 4 {
		e, err := decodeEntry(res[i], res[i+1], res[i+2], res[i+3])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Queues returns every non-empty queue of repo ("" for all), sorted by key.
func (s *Store) Queues(ctx context.Context, repo string) ([]locking.KeyQueue, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	pattern := globEscape(s.queueKey("")) + "*"
	if repo != "" {
		pattern = globEscape(s.queueKey(url.QueryEscape(repo)+"|")) + "*"
	}
	keys, err := s.scan(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	out := []locking.KeyQueue{}
	for _, k := range keys {
		id := strings.TrimPrefix(k, s.queueKey(""))
		key, err := locking.ParseKey(id)
		if err != nil {
			return nil, fmt.Errorf("list queues: %w", err)
		}
		q, err := s.readQueue(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("list queues: %w", err)
		}
		if len(q) > 0 {
			out = append(out, locking.KeyQueue{Key: key, Entries: q})
		}
	}
	slices.SortFunc(out, func(a, b locking.KeyQueue) int { return cmp.Compare(a.Key.String(), b.Key.String()) })
	return out, nil
}

// Dequeue removes pull from the queue of key.
func (s *Store) Dequeue(ctx context.Context, key locking.Key, pull int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dequeue #%d from %s: %w", pull, key, err)
	}
	id := key.String()
	p := strconv.Itoa(pull)
	err := s.write(ctx, func(pl goredis.Pipeliner) error {
		dequeueScript.Eval(ctx, pl, []string{s.queueKey(id), s.queueRecKey(id), s.queuedIndexPrefix(key.Repo) + p}, p, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dequeue #%d from %s: %w", pull, key, err)
	}
	return nil
}

// DequeuePull removes pull from every queue of repo.
func (s *Store) DequeuePull(ctx context.Context, repo string, pull int) ([]locking.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dequeue %s#%d: %w", repo, pull, err)
	}
	if repo == "" {
		return nil, fmt.Errorf("dequeue #%d: no repo", pull)
	}
	p := strconv.Itoa(pull)
	var cmd *goredis.Cmd
	err := s.write(ctx, func(pl goredis.Pipeliner) error {
		cmd = dequeuePullScript.Eval(ctx, pl, []string{s.queuedIndexPrefix(repo) + p}, p, s.queueKey(""), s.queueRecKey(""))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dequeue %s#%d: %w", repo, pull, err)
	}
	ids, err := cmd.StringSlice()
	if err != nil {
		return nil, fmt.Errorf("dequeue %s#%d: %w", repo, pull, err)
	}
	out := make([]locking.Key, 0, len(ids))
	for _, id := range ids {
		k, err := locking.ParseKey(id)
		if err != nil {
			return nil, fmt.Errorf("dequeue %s#%d: %w", repo, pull, err)
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b locking.Key) int { return cmp.Compare(a.String(), b.String()) })
	return out, nil
}

// Handover gives the free lock at key to the first PR in its queue,
// atomically on the server.
func (s *Store) Handover(ctx context.Context, key locking.Key) (locking.Lock, bool, error) {
	if err := ctx.Err(); err != nil {
		return locking.Lock{}, false, fmt.Errorf("hand over lock %s: %w", key, err)
	}
	id := key.String()
	var cmd *goredis.Cmd
	err := s.write(ctx, func(p goredis.Pipeliner) error {
		cmd = handoverScript.Eval(ctx, p, []string{s.lockKey(id), s.queueKey(id), s.queueRecKey(id)},
			s.now().UTC().Format(time.RFC3339Nano), s.pullIndexPrefix(key.Repo), s.queuedIndexPrefix(key.Repo), id)
		return nil
	})
	if err != nil {
		return locking.Lock{}, false, fmt.Errorf("hand over lock %s: %w", key, err)
	}
	res, err := cmd.Slice()
	if err != nil {
		return locking.Lock{}, false, fmt.Errorf("hand over lock %s: %w", key, err)
	}
	if st, _ := res[0].(int64); st == 0 {
		return locking.Lock{}, false, nil
	}
	if len(res) != 4 {
		return locking.Lock{}, false, fmt.Errorf("hand over lock %s: unexpected reply of %d values", key, len(res))
	}
	l, err := decodeLock(res[1], res[2], res[3])
	if err != nil {
		return locking.Lock{}, false, fmt.Errorf("hand over lock %s: %w", key, err)
	}
	return l, true, nil
}

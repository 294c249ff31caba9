package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// comment posts a new comment (split into parts if needed).
func (r *prRun) comment(ctx context.Context, body string) {
	r.newLiveComment().set(ctx, body)
}

// liveComment is one comment per command run, edited in place as projects finish.
// A body over GitHub's limit becomes several comments ("part 2 of 3").
type liveComment struct {
	s    *Server
	repo vcs.Repo
	num  int
	log  *slog.Logger
	mu   sync.Mutex // guards everything below and serialises edits
	ids  []int64
	// created, when set, hears of every comment part created.
	created func(ctx context.Context, id int64)
	// start, delay, pending, timer and final hold back a "running" comment
	// for delay (see setLive).
	start   time.Time
	delay   time.Duration
	pending string
	timer   *time.Timer
	final   bool
}

// DefaultLiveCommentDelay is how long a command runs before its "running"
// comment is posted: a plan that takes a second gets one comment, not one
// posted and then edited (two GitHub calls fewer).
const DefaultLiveCommentDelay = 3 * time.Second

func (lc *liveComment) set(ctx context.Context, body string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.final = true
	if lc.timer != nil {
		lc.timer.Stop()
	}
	lc.setLocked(ctx, body)
}

// setLive shows body, which still lists running projects (final false) or
// is the last version (final true). A running version is held back until
// the comment is delay old, and dropped if the last one comes first.
func (lc *liveComment) setLive(ctx context.Context, body string, final bool) {
	if final {
		lc.set(ctx, body)
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.final {
		return
	}
	wait := lc.delay - time.Since(lc.start)
	if len(lc.ids) > 0 || lc.start.IsZero() || wait <= 0 {
		lc.setLocked(ctx, body)
		return
	}
	lc.pending = body
	if lc.timer == nil {
		lc.timer = time.AfterFunc(wait, func() {
			lc.mu.Lock()
			defer lc.mu.Unlock()
			if lc.final || len(lc.ids) > 0 || ctx.Err() != nil {
				return
			}
			lc.setLocked(ctx, lc.pending)
		})
	}
}

// setLocked posts or edits the comment's parts; lc.mu is held.
func (lc *liveComment) setLocked(ctx context.Context, body string) {
	parts := templates.Split(body, vcs.MaxCommentLen)
	for i, p := range parts {
		if i < len(lc.ids) {
			if err := lc.s.cfg.VCS.UpdateComment(ctx, lc.repo, lc.ids[i], p); err != nil {
				lc.log.Error("update comment", "error", err)
			}
			continue
		}
		id, err := lc.s.cfg.VCS.CreateComment(ctx, lc.repo, lc.num, p)
		if err != nil {
			lc.log.Error("create comment", "error", err)
			return
		}
		lc.ids = append(lc.ids, id)
		if lc.created != nil {
			lc.created(ctx, id)
		}
	}
	// Parts left over from a longer earlier version are emptied, not deleted, so
	// links to them keep working.
	for i := len(parts); i < len(lc.ids); i++ {
		if err := lc.s.cfg.VCS.UpdateComment(ctx, lc.repo, lc.ids[i], "_(superseded by the comment above)_"); err != nil {
			lc.log.Error("update comment", "error", err)
		}
	}
}

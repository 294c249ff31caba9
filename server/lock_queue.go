package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// Handover says why an autoplan runs: the pull request's plan was queued
// behind another pull request's lock (repos.yaml lock_queue), and that lock
// was handed over to it.
type Handover struct {
	// Key is the lock handed over; Project its project name, if any.
	Key     locking.Key
	Project string `json:",omitempty"`
	// From is the pull request that held the lock before.
	From int
	// Why says how From let go of it, as the end of "#12 ...": "was
	// merged", "was closed", "released it with `atoll unlock`", ...
	Why string
	// CommentID is the comment that said the plan was queued: the plan
	// edits it. 0 posts a new comment.
	CommentID int64 `json:",omitempty"`
}

// Reasons a lock was released, as the end of "#12 ...".
const (
	whyUnlocked  = "released it with `atoll unlock`"
	whyLocksPage = "was unlocked from the Locks page"
	whyAPI       = "was unlocked through the API"
)

// whyClosed says how a pull request that ended let go of its locks.
func whyClosed(state vcs.PullState) string {
	switch state {
	case vcs.PullMerged:
		return "was merged"
	case vcs.PullClosed:
		return "was closed"
	}
	return "is no longer open"
}

// queuePlan puts this pull request in the queue of held, the lock that
// stopped its plan, and returns its position there and its entry; 0 when it
// could not be queued (the plan is then refused as without lock_queue).
func (r *prRun) queuePlan(ctx context.Context, held locking.Lock, projects []config.Project) (int, locking.QueueEntry) {
	s := r.s
	e := locking.QueueEntry{Pull: r.pull.Num, PullURL: r.pull.URL, User: r.w.User, HeadSHA: r.pull.HeadSHA, Time: s.cfg.Now()}
	for _, p := range projects {
		if projectKey(r.w.Repo, p) == held.Key {
			e.Project = p.Name
		}
	}
	pos, err := s.cfg.Store.Enqueue(ctx, held.Key, e)
	if err != nil {
		r.log.Error("queue plan behind a held lock; refused instead", "error", err, "dir", held.Key.Dir, "workspace", held.Key.Workspace)
		return 0, e
	}
	r.log.Info("plan queued behind a held lock", "dir", held.Key.Dir, "workspace", held.Key.Workspace, "holder", held.Pull, "position", pos)
	r.logf("%s (workspace %s) is locked by #%d; this plan is queued (position %d) and runs when #%d releases it\n",
		held.Key.Dir, held.Key.Workspace, held.Pull, pos, held.Pull)
	// The holder may have let go between our Acquire and Enqueue: its
	// handover found no queue then, so it is handed over here.
	s.handOver(ctx, r.w.Repo, []locking.Key{held.Key}, held.Pull, "released it")
	return pos, e
}

// rememberComment records in the queue entry e of key the comment that
// says the plan is queued, so the plan edits it when it runs.
func (r *prRun) rememberComment(ctx context.Context, key locking.Key, e locking.QueueEntry, lc *liveComment) {
	lc.mu.Lock()
	if len(lc.ids) > 0 {
		e.CommentID = lc.ids[0]
	}
	lc.mu.Unlock()
	if e.CommentID == 0 {
		return
	}
	// Enqueue keeps the entry's place; if the entry left the queue
	// meanwhile (handed over already), it must not come back. (Were it
	// handed over between this check and Enqueue, the plan it then runs
	// takes the lock and leaves that queue again.)
	q, err := r.s.cfg.Store.Queue(ctx, key)
	if err != nil || (locking.KeyQueue{Key: key, Entries: q}).Position(e.Pull) == 0 {
		return
	}
	if _, err := r.s.cfg.Store.Enqueue(ctx, key, e); err != nil {
		r.log.Error("remember the comment of a queued plan", "error", err)
	}
}

// planComment is the comment of a plan run: the one that said the plan was
// queued, when it runs after a handover, else a new one.
func (r *prRun) planComment(ctx context.Context) *liveComment {
	lc := r.newLiveComment()
	if h := r.w.Handover; h != nil && h.CommentID != 0 {
		lc.ids = []int64{h.CommentID}
		r.noteComment(ctx, h.CommentID)
	}
	return lc
}

// handOver gives each free lock of keys to the first pull request in its
// queue and dispatches an autoplan of that pull request. from is the pull
// request that released the locks and why says how (see Handover.Why).
// repo is the repository of keys when the caller knows it; its zero value
// looks it up. It returns the pull request each lock went to.
func (s *Server) handOver(ctx context.Context, repo vcs.Repo, keys []locking.Key, from int, why string) map[locking.Key]int {
	ctx = context.WithoutCancel(ctx) // a handover that happened must be dispatched
	to := map[locking.Key]int{}
	for _, k := range keys {
		// The queue as it was, for the comment of the pull request the
		// lock goes to.
		queue, _ := s.cfg.Store.Queue(ctx, k)
		l, ok, err := s.cfg.Store.Handover(ctx, k)
		if err != nil {
			s.log.Error("hand over lock to its queue", "repo", k.Repo, "dir", k.Dir, "workspace", k.Workspace, "error", err)
			continue
		}
		if !ok {
			continue
		}
		to[k] = l.Pull
		if repo.ID() != k.Repo {
			repo = s.repoFor(ctx, k.Repo)
		}
		w := Work{ID: newJobID(), Kind: WorkAutoplan, Repo: repo, Pull: vcs.PullRequest{Num: l.Pull, URL: l.PullURL},
			User: l.User, Queued: s.cfg.Now(), Delivery: "queue",
			Handover: &Handover{Key: k, Project: l.Project, From: from, Why: why}}
		for _, e := range queue {
			if e.Pull == l.Pull {
				w.Handover.CommentID = e.CommentID
			}
		}
		s.log.Info("lock handed over to the next pull request in its queue; planning it", "repo", k.Repo, "dir", k.Dir,
			"workspace", k.Workspace, "from", from, "to", l.Pull, "job", w.ID)
		s.journalQueued(ctx, w)
		if err := s.cfg.Dispatcher.Dispatch(ctx, w); err != nil {
			// No webhook brings this work again: its journal record stays,
			// and Recover runs it at the next start. Until then the pull
			// request holds the lock, and `atoll plan` on it plans as usual.
			s.log.Error("dispatch the plan of a pull request handed a lock; it runs at the next start", "repo", k.Repo, "pull", l.Pull, "error", err)
		}
	}
	return to
}

// repoFor returns the repository with id as the webhooks described it (the
// registry of repositories seen), else as parsed from id.
func (s *Server) repoFor(ctx context.Context, id string) vcs.Repo {
	if recs, err := s.cfg.Store.Repos(ctx); err == nil {
		for _, rec := range recs {
			var repo vcs.Repo
			if rec.ID == id && json.Unmarshal(rec.Repo, &repo) == nil && repo.ID() == id {
				return repo
			}
		}
	}
	repo, err := vcs.ParseRepoID(id)
	if err != nil {
		s.log.Error("parse repository of a lock", "repo", id, "error", err)
	}
	return repo
}

// leaveQueues takes pull request num out of every lock queue of repo: it
// ended, or dropped its plans with `atoll unlock`.
func (s *Server) leaveQueues(ctx context.Context, repo vcs.Repo, num int) {
	left, err := s.cfg.Store.DequeuePull(ctx, repo.ID(), num)
	if err != nil {
		s.log.Error("leave lock queues", "repo", repo.ID(), "pull", num, "error", err)
		return
	}
	if len(left) > 0 {
		s.log.Info("pull request left lock queues", "repo", repo.ID(), "pull", num, "queues", len(left))
	}
}

// releasedKeys returns the keys of locks.
func releasedKeys(locks []locking.Lock) []locking.Key {
	out := make([]locking.Key, len(locks))
	for i, l := range locks {
		out[i] = l.Key
	}
	return out
}

// handoverIntro opens the plan comment of a pull request whose queued plan
// runs now.
func (r *prRun) handoverIntro() string {
	h := r.w.Handover
	name := h.Project
	if name == "" {
		name = h.Key.Dir
	}
	if h.From == 0 {
		return fmt.Sprintf("**This plan was queued** for %s (workspace %s). The lock is free now and passed to this pull request, so Atoll planned its latest commit (%s).",
			templates.Code(name), templates.Code(h.Key.Workspace), short(r.pull.HeadSHA))
	}
	return fmt.Sprintf("**This plan was queued** behind #%d for %s (workspace %s). #%d %s, and the lock passed to this pull request, so Atoll planned its latest commit (%s) now.",
		h.From, templates.Code(name), templates.Code(h.Key.Workspace), h.From, h.Why, short(r.pull.HeadSHA))
}

// handoverHeldIntro opens the comment of a pull request handed a lock whose
// plan needs another lock, label's, which held holds: it keeps the lock it
// was handed and waits again, at pos (0: it could not be queued).
func (r *prRun) handoverHeldIntro(held locking.Lock, label string, pos int) string {
	h := r.w.Handover
	name := h.Project
	if name == "" {
		name = h.Key.Dir
	}
	from := "That lock is free now"
	if h.From != 0 {
		from = fmt.Sprintf("#%d %s", h.From, h.Why)
	}
	then := "so it waits in that lock's queue now"
	if pos == 0 {
		then = "so it was not planned"
	}
	return fmt.Sprintf("**This plan was queued** for %s (workspace %s). %s and passed that lock to this pull request, which keeps it; but the plan also needs %s, which #%d holds, %s.",
		templates.Code(name), templates.Code(h.Key.Workspace), from, templates.Code(label), held.Pull, then)
}

// withHandedProject adds the project of the lock handed over to projects
// when the pull request's changes no longer select it: it is what the
// pull request queued for, and it holds the lock now.
func (r *prRun) withHandedProject(projects []config.Project) []config.Project {
	h := r.w.Handover
	if h == nil {
		return projects
	}
	for _, p := range projects {
		if projectKey(r.w.Repo, p) == h.Key {
			return projects
		}
	}
	sel, err := r.resolved.Select(r.dir, nil, h.Key.Dir, h.Key.Workspace, "")
	if err != nil || len(sel) == 0 {
		r.log.Info("the project of the lock handed over is gone from the pull request", "dir", h.Key.Dir, "workspace", h.Key.Workspace)
		return projects
	}
	return append(projects, sel...)
}

// queuedReason says why a project that is free was not planned: the
// command's project label is queued behind held.
func queuedReason(held locking.Lock, label string) string {
	return fmt.Sprintf("it waits with %s, which is queued behind #%d (a command locks all its projects together).", templates.Code(label), held.Pull)
}

// releaseHanded releases the lock at key that pull request num was handed
// but cannot use (it is no longer open), and hands it on.
func (s *Server) releaseHanded(ctx context.Context, repo vcs.Repo, num int, key locking.Key, why string) {
	if _, err := s.cfg.Store.Release(ctx, key, num); err != nil {
		s.log.Error("release a lock handed to a pull request that is not open", "repo", repo.ID(), "pull", num, "error", err)
		return
	}
	s.handOver(ctx, repo, []locking.Key{key}, num, why)
}

// freeQueues remembers the free locks with a queue that one reconcile pass
// saw, so the next pass hands over those still free.
type freeQueues struct {
	mu   sync.Mutex // guards keys
	keys map[locking.Key]bool
}

// reconcileQueues drops from the lock queues the pull requests that are no
// longer open (a missed "closed" webhook), and hands a free lock with a
// queue to its first pull request (a replica stopped between a release and
// its handover) when the pass before saw it free too: a release whose
// handover is under way is not taken over, so its comment can say who
// released the lock and how. It returns how many entries it dropped.
func (s *Server) reconcileQueues(ctx context.Context) (int, error) {
	queues, err := s.cfg.Store.Queues(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("list lock queues: %w", err)
	}
	type pr struct {
		repo string
		num  int
	}
	open := map[pr]bool{}
	free := map[locking.Key]bool{}
	dropped := 0
	var errs []error
	for _, q := range queues {
		repo := s.repoFor(ctx, q.Key.Repo)
		for _, e := range q.Entries {
			k := pr{q.Key.Repo, e.Pull}
			isOpen, seen := open[k]
			if !seen {
				pull, err := s.cfg.VCS.GetPullRequest(ctx, repo, e.Pull)
				switch {
				case errors.Is(err, vcs.ErrNotFound):
					isOpen = false
				case err != nil:
					errs = append(errs, fmt.Errorf("get %s#%d: %w", q.Key.Repo, e.Pull, err))
					isOpen = true // unknown: it stays
				default:
					isOpen = pull.State == vcs.PullOpen
				}
				open[k] = isOpen
			}
			if isOpen {
				continue
			}
			if err := s.cfg.Store.Dequeue(ctx, q.Key, e.Pull); err != nil {
				errs = append(errs, err)
				continue
			}
			dropped++
			s.log.Info("reconciler dropped a pull request that is no longer open from a lock queue",
				"repo", q.Key.Repo, "pull", e.Pull, "dir", q.Key.Dir, "workspace", q.Key.Workspace)
		}
		if _, err := s.cfg.Store.Get(ctx, q.Key); errors.Is(err, locking.ErrNotFound) {
			free[q.Key] = true
		}
	}
	s.freeQueues.mu.Lock()
	before := s.freeQueues.keys
	s.freeQueues.keys = free
	s.freeQueues.mu.Unlock()
	for _, q := range queues {
		if free[q.Key] && before[q.Key] {
			s.handOver(ctx, s.repoFor(ctx, q.Key.Repo), []locking.Key{q.Key}, 0, "")
		}
	}
	return dropped, errors.Join(errs...)
}

// planHeld answers a plan that found a project's lock, held's, taken by
// another pull request: with lock_queue the plan waits in that lock's queue,
// else it is refused. Either way nothing is planned, and the comment (and
// status) says which lock and what happens next.
func (r *prRun) planHeld(ctx context.Context, held locking.Lock, projects []config.Project, refused []templates.Project) bool {
	s := r.s
	s.metrics.lockConflict.Inc()
	pos := 0
	var entry locking.QueueEntry
	if r.resolved.LockQueue {
		pos, entry = r.queuePlan(ctx, held, projects)
	}
	if pos == 0 {
		r.logf("%s is locked by #%d; nothing was planned\n", held.Key.Dir, held.Pull)
	}
	heldLabel := held.Key.Dir
	results := make([]templates.Project, len(projects))
	for _, p := range projects {
		if projectKey(r.w.Repo, p) == held.Key {
			heldLabel = projectLabel(p)
		}
	}
	for i, p := range projects {
		results[i] = tmplProject(p)
		switch {
		case projectKey(r.w.Repo, p) == held.Key:
			results[i].Status = templates.StatusLocked
			results[i].Lock = &templates.LockInfo{Pull: held.Pull, PullURL: held.PullURL, User: held.User, Since: held.Time,
				QueuePosition: pos}
		case pos > 0:
			results[i].Status = templates.StatusRefused
			results[i].Reason = queuedReason(held, heldLabel)
		default:
			results[i].Status = templates.StatusRefused
			results[i].Reason = fmt.Sprintf("not planned: a command locks all its projects together, and `%s` is locked by #%d", held.Key.Dir, held.Pull)
		}
	}
	if r.w.Handover != nil {
		r.intro = r.handoverHeldIntro(held, heldLabel, pos)
	}
	if pos > 0 {
		// Pending, not failed: the plan runs by itself when the lock comes.
		// The job settles no pending status it set on purpose.
		r.setStatus(ctx, statusPlan, vcs.StatusPending, fmt.Sprintf("queued behind #%d (position %d) for %s", held.Pull, pos, heldLabel))
		r.statusMu.Lock()
		delete(r.unsettled, statusPlan)
		r.statusMu.Unlock()
	} else {
		r.setStatus(ctx, statusPlan, vcs.StatusFailure, fmt.Sprintf("%s is locked by #%d", held.Key.Dir, held.Pull))
	}
	lc := r.planComment(ctx)
	r.postResults(ctx, lc, templates.Plan, append(results, refused...))
	if pos > 0 {
		r.rememberComment(ctx, held.Key, entry, lc)
	}
	r.audit(ctx, AuditPlan, append(results, refused...))
	return pos > 0 // queued is what the job was to do; refused is not
}

package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atollhq/atoll/vcs"
)

// handleEvents receives a GitHub webhook, answers at once, and dispatches the work.
func (s *Server) handleEvents(c echo.Context) error {
	ev, err := s.cfg.Parser.Parse(c.Request())
	if err != nil {
		code := http.StatusBadRequest
		msg := "malformed webhook"
		if errors.Is(err, vcs.ErrBadSignature) {
			code, msg = http.StatusUnauthorized, "webhook signature does not verify"
		}
		s.log.Warn("webhook refused", "code", code, "error", err, "delivery", c.Request().Header.Get("X-GitHub-Delivery"))
		return s.eventReply(c, "invalid", code, msg)
	}
	log := s.log.With("event", ev.Kind.String(), "delivery", ev.DeliveryID, "repo", ev.Repo.FullName())
	switch ev.Kind {
	case vcs.EventPing:
		return s.eventReply(c, "ping", http.StatusOK, "pong")
	case vcs.EventIgnored:
		return s.eventReply(c, "ignored", http.StatusOK, "ignored: "+ev.Reason)
	}
	if !s.allowed(ev.Repo) {
		log.Info("repo not in allowlist")
		return s.eventReply(c, ev.Kind.String(), http.StatusForbidden, "repo "+ev.Repo.ID()+" is not in --repo-allowlist")
	}
	w := Work{ID: newJobID(), Repo: ev.Repo, Pull: ev.Pull, User: ev.Sender, Queued: s.cfg.Now(), Delivery: ev.DeliveryID}
	switch ev.Kind {
	case vcs.EventPullOpened, vcs.EventPullUpdated:
		if s.cfg.DisableAutoplan {
			return s.eventReply(c, ev.Kind.String(), http.StatusOK, "ignored: autoplan is disabled (--disable-autoplan); comment atoll plan")
		}
		w.Kind = WorkAutoplan
	case vcs.EventPullClosed:
		w.Kind = WorkClose
	case vcs.EventMergeGroup:
		w.Kind = WorkMergeGroup
	case vcs.EventCheckRerun:
		// "Re-run" on a check run is `atoll plan -d DIR -w WS` by the
		// person who pressed it, with the same permission checks.
		cmd, err := checkRerunCommand(ev.CheckExternalID)
		if err != nil {
			log.Warn("check run rerequest refused", "error", err)
			return s.eventReply(c, "check_run", http.StatusBadRequest, "bad check run")
		}
		if msg := s.commandRefusal(cmd, false); msg != "" {
			w.CommandErr = msg
		}
		w.Kind, w.Command = WorkCommand, cmd
	case vcs.EventComment, vcs.EventIssueComment:
		// A comment on a pull request is a command; on an issue only drift issues
		// take one (`atoll apply` restores Git's state).
		event, kind := "comment", WorkCommand
		if ev.Kind == vcs.EventIssueComment {
			if s.cfg.Drift == nil {
				return s.eventReply(c, "issue_comment", http.StatusOK, "ignored: comment on an issue")
			}
			event, kind = "issue_comment", WorkDriftApply
		}
		// The replay log keeps deliveries for 72 hours: a captured comment
		// replayed later than that is refused by its own date instead.
		if age := s.cfg.Now().Sub(ev.Comment.CreatedAt); ev.Comment.CreatedAt.IsZero() || age > maxCommentAge {
			log.Warn("comment too old or undated; a replay?", "created", ev.Comment.CreatedAt)
			return s.eventReply(c, event, http.StatusOK, "ignored: the comment is undated or older than "+maxCommentAge.String())
		}
		cmd, err := ParseCommand(ev.Comment.Body, s.cfg.Executables)
		var ce *CommandError
		switch {
		case errors.Is(err, errNotCommand):
			return s.eventReply(c, event, http.StatusOK, "ignored: not a command")
		case errors.As(err, &ce):
			w.CommandErr = ce.Msg
		case err != nil:
			return s.eventReply(c, event, http.StatusBadRequest, "bad command")
		default:
			if msg := s.commandRefusal(cmd, kind == WorkDriftApply); msg != "" {
				if kind == WorkDriftApply {
					return s.eventReply(c, event, http.StatusOK, "ignored: "+msg)
				}
				w.CommandErr = msg
			}
		}
		w.Kind, w.Command, w.User = kind, cmd, ev.Comment.User
	default:
		return s.eventReply(c, "ignored", http.StatusOK, "ignored")
	}
	ctx := c.Request().Context()
	addCtx, cancel := context.WithTimeout(ctx, storeAnswerTimeout)
	fresh, err := s.cfg.Deliveries.Add(addCtx, ev.DeliveryID, ev.BodyDigest)
	cancel()
	if err != nil {
		if s.cfg.Spool != nil && s.baseCtx.Err() == nil {
			// The shared store (Redis) is unreachable: keep the webhook on
			// this machine until it is back. GitHub does not redeliver by
			// itself, so a 5xx would lose it.
			return s.spoolWork(c, w, ev.BodyDigest, false, err)
		}
		// The replay guard is down: refuse rather than risk running a
		// replayed command.
		log.Error("record webhook delivery", "error", err)
		return s.eventReply(c, ev.Kind.String(), http.StatusServiceUnavailable, "cannot record the delivery; try again")
	}
	if !fresh {
		log.Warn("webhook delivery already handled; replay ignored", "digest", ev.BodyDigest)
		return s.eventReply(c, ev.Kind.String(), http.StatusOK, "ignored: this delivery was already handled (same delivery ID or same body)")
	}
	s.journalQueued(ctx, w)
	if err := s.cfg.Dispatcher.Dispatch(ctx, w); err != nil {
		s.journalDone(ctx, w.ID)
		s.cfg.Deliveries.Remove(ctx, ev.DeliveryID, ev.BodyDigest) // GitHub may redeliver it
		if s.cfg.Spool != nil && s.baseCtx.Err() == nil {
			// Its delivery is recorded as fresh; Remove may not have reached
			// the store, so the spool does not check it again.
			return s.spoolWork(c, w, ev.BodyDigest, true, err)
		}
		log.Error("dispatch work", "error", err)
		return s.eventReply(c, ev.Kind.String(), http.StatusServiceUnavailable, "cannot queue work: server is shutting down")
	}
	s.noteRepo(ctx, w.Repo)
	log.Info("work queued", "job", w.ID, "kind", w.Kind, "pull", w.Pull.Num)
	return s.eventReply(c, ev.Kind.String(), http.StatusAccepted, "queued "+w.Kind+" job "+w.ID)
}

func (s *Server) eventReply(c echo.Context, event string, code int, msg string) error {
	s.metrics.webhooks.WithLabelValues(event, strconv.Itoa(code)).Inc()
	return c.String(code, msg+"\n")
}

// maxCommentAge is the oldest comment a command is taken from: well inside
// the 72 hours deliveries are remembered for, and far longer than GitHub
// takes to deliver (or an admin to redeliver after an outage).
const maxCommentAge = 48 * time.Hour

// maxDeliveries is how many webhook deliveries the in-memory log remembers.
const maxDeliveries = 10000

// DeliveryLog records the webhook deliveries already acted on, by delivery ID
// and by the digest of the signed body: a signed webhook stays valid forever,
// so without it a captured delivery (`atoll apply` on a PR, say) could be
// sent again, under the same or a new X-GitHub-Delivery, to run again.
type DeliveryLog interface {
	// Add records a delivery by its ID (may be empty) and the hex SHA-256 of
	// its body, and reports whether it is new: false when either was seen.
	Add(ctx context.Context, id, digest string) (bool, error)
	// Remove forgets the delivery, for one that was not acted on after all.
	Remove(ctx context.Context, id, digest string)
}

// deliverySet is an in-memory DeliveryLog for one process, used when no
// store is given (unit tests); `atoll server` keeps deliveries in its store so
// they survive restarts.
type deliverySet struct {
	mu    sync.Mutex // guards seen and order
	seen  map[string]bool
	order []string // oldest first, at most 2*maxDeliveries keys
}

func newDeliverySet() *deliverySet { return &deliverySet{seen: map[string]bool{}} }

var _ DeliveryLog = (*deliverySet)(nil)

// Add records id and digest and reports whether both are new.
func (d *deliverySet) Add(_ context.Context, id, digest string) (bool, error) {
	keys := deliveryKeys(id, digest)
	if len(keys) == 0 {
		return false, errors.New("record delivery: no delivery ID and no body digest")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		if d.seen[k] {
			return false, nil
		}
	}
	for _, k := range keys {
		d.seen[k] = true
		d.order = append(d.order, k)
	}
	for len(d.order) > 2*maxDeliveries {
		delete(d.seen, d.order[0])
		d.order = d.order[1:]
	}
	return true, nil
}

// Remove forgets id and digest.
func (d *deliverySet) Remove(_ context.Context, id, digest string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range deliveryKeys(id, digest) {
		delete(d.seen, k) // its entry in order ages out harmlessly
	}
}

func deliveryKeys(id, digest string) []string {
	var keys []string
	if id != "" {
		keys = append(keys, "id:"+id)
	}
	if digest != "" {
		keys = append(keys, "sha:"+digest)
	}
	return keys
}

// commandRefusal says why this server's settings refuse cmd
// (--allow-commands, --disable-apply-all), or "" when they do not. onIssue is
// a command on a drift issue, which names no project.
func (s *Server) commandRefusal(cmd Command, onIssue bool) string {
	if cmd.Name == CmdHelp {
		return ""
	}
	if s.cfg.AllowCommands != nil && !slices.Contains(s.cfg.AllowCommands, cmd.Name) {
		return "atoll " + cmd.Name + " is disabled on this server (--allow-commands)"
	}
	if s.cfg.DisableApplyAll && !onIssue && cmd.Name == CmdApply && cmd.Dir == "" && cmd.Project == "" && cmd.Workspace == "" {
		return "atoll apply without -p, -d or -w is disabled on this server (--disable-apply-all): name the project, directory or workspace to apply"
	}
	return ""
}

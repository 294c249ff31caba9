package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"

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
		w.Kind = WorkAutoplan
	case vcs.EventPullClosed:
		w.Kind = WorkClose
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
		cmd, err := ParseCommand(ev.Comment.Body, s.cfg.Executables)
		var ce *CommandError
		switch {
		case errors.Is(err, errNotCommand):
			return s.eventReply(c, event, http.StatusOK, "ignored: not a command")
		case errors.As(err, &ce):
			w.CommandErr = ce.Msg
		case err != nil:
			return s.eventReply(c, event, http.StatusBadRequest, "bad command")
		}
		w.Kind, w.Command, w.User = kind, cmd, ev.Comment.User
	default:
		return s.eventReply(c, "ignored", http.StatusOK, "ignored")
	}
	ctx := c.Request().Context()
	fresh, err := s.cfg.Deliveries.Add(ctx, ev.DeliveryID)
	if err != nil {
		// The replay guard is down (Redis unreachable): refuse rather than risk
		// running a replayed command; GitHub redelivers on 5xx.
		log.Error("record webhook delivery", "error", err)
		return s.eventReply(c, ev.Kind.String(), http.StatusServiceUnavailable, "cannot record the delivery; try again")
	}
	if !fresh {
		log.Warn("webhook delivery already handled; replay ignored")
		return s.eventReply(c, ev.Kind.String(), http.StatusOK, "ignored: delivery "+ev.DeliveryID+" was already handled")
	}
	if err := s.cfg.Dispatcher.Dispatch(ctx, w); err != nil {
		s.cfg.Deliveries.Remove(ctx, ev.DeliveryID) // GitHub may redeliver it
		log.Error("dispatch work", "error", err)
		return s.eventReply(c, ev.Kind.String(), http.StatusServiceUnavailable, "cannot queue work: server is shutting down")
	}
	log.Info("work queued", "job", w.ID, "kind", w.Kind, "pull", w.Pull.Num)
	return s.eventReply(c, ev.Kind.String(), http.StatusAccepted, "queued "+w.Kind+" job "+w.ID)
}

func (s *Server) eventReply(c echo.Context, event string, code int, msg string) error {
	s.metrics.webhooks.WithLabelValues(event, strconv.Itoa(code)).Inc()
	return c.String(code, msg+"\n")
}

// maxDeliveries is how many webhook delivery IDs are remembered to refuse
// replays: a few days of a busy installation's PR events.
const maxDeliveries = 10000

// deliverySet remembers the most recent webhook delivery IDs this process
// acted on. A signed webhook stays valid forever, so without it a captured
// delivery (`atoll apply` on a PR, say) could be sent again to run again.
type deliverySet struct {
	mu    sync.Mutex // guards seen and order
	seen  map[string]bool
	order []string // oldest first, at most maxDeliveries
}

func newDeliverySet() *deliverySet { return &deliverySet{seen: map[string]bool{}} }

// DeliveryLog records the webhook deliveries already acted on.
type DeliveryLog interface {
	// Add records id and reports whether it is new.
	Add(ctx context.Context, id string) (bool, error)
	// Remove forgets id, for a delivery that was not acted on after all.
	Remove(ctx context.Context, id string)
}

var _ DeliveryLog = (*deliverySet)(nil)

// Add records id and reports whether it is new. An empty id (no
// X-GitHub-Delivery header) is always new.
func (d *deliverySet) Add(_ context.Context, id string) (bool, error) {
	return d.add(id), nil
}

// Remove forgets id.
func (d *deliverySet) Remove(_ context.Context, id string) { d.remove(id) }

// add records id and reports whether it is new.
func (d *deliverySet) add(id string) bool {
	if id == "" {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[id] {
		return false
	}
	d.seen[id] = true
	d.order = append(d.order, id)
	if len(d.order) > maxDeliveries {
		delete(d.seen, d.order[0])
		d.order = d.order[1:]
	}
	return true
}

// remove forgets id, for a delivery that was not acted on after all.
func (d *deliverySet) remove(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, id) // its entry in order ages out harmlessly
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// States of a spool record: a webhook whose delivery is still to be checked
// against the shared replay log, or one already found fresh there (its
// queueing failed; the store may not have heard that it was undone).
const (
	spoolUnchecked = "spooled"
	spoolChecked   = "spooled-checked"
)

// storeAnswerTimeout bounds how long a webhook waits for the shared store
// before it is spooled instead: GitHub gives a delivery ten seconds.
const storeAnswerTimeout = 3 * time.Second

// spoolEvery is how often the spool is retried while it holds webhooks.
const spoolEvery = time.Second

// errSpoolDuplicate says a webhook is already in the spool.
var errSpoolDuplicate = errors.New("webhook already spooled")

// spoolWork keeps w, a webhook's work that the shared store could not take,
// in the local spool, and answers 202: the webhook is not lost, it runs once
// the store is back. A delivery already in the spool is answered as a replay.
func (s *Server) spoolWork(c echo.Context, w Work, digest string, checked bool, cause error) error {
	ctx := c.Request().Context()
	log := s.log.With("delivery", w.Delivery, "repo", w.Repo.FullName(), "pull", w.Pull.Num)
	w.BodyDigest = digest
	err := s.spoolPut(ctx, w, checked)
	switch {
	case errors.Is(err, errSpoolDuplicate):
		log.Warn("webhook delivery already spooled; replay ignored", "digest", digest)
		return s.eventReply(c, w.Kind, http.StatusOK, "ignored: this delivery was already handled (same delivery ID or same body)")
	case err != nil:
		log.Error("spool webhook", "error", err, "store_error", cause)
		return s.eventReply(c, w.Kind, http.StatusServiceUnavailable, "cannot record the delivery; try again")
	}
	log.Warn("shared store unreachable: webhook kept in the local spool until it is back", "job", w.ID, "error", cause)
	return s.eventReply(c, w.Kind, http.StatusAccepted, "accepted "+w.Kind+" job "+w.ID+" into the local spool: the shared store is unreachable; it runs when the store is back")
}

// spoolPut adds w to the spool unless a webhook with the same delivery ID or
// body is there already.
func (s *Server) spoolPut(ctx context.Context, w Work, checked bool) error {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	recs, err := s.cfg.Spool.Jobs(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		var old Work
		if json.Unmarshal(r.Work, &old) == nil &&
			(old.BodyDigest == w.BodyDigest || (w.Delivery != "" && old.Delivery == w.Delivery)) {
			return errSpoolDuplicate
		}
	}
	state := spoolUnchecked
	if checked {
		state = spoolChecked
	}
	if err := s.cfg.Spool.SaveJob(ctx, journalRecord(w, state)); err != nil {
		return err
	}
	s.setSpooled(len(recs) + 1)
	return nil
}

// setSpooled records how many webhooks wait in the spool; spoolMu is held.
func (s *Server) setSpooled(n int) {
	s.spoolLeft = n
	s.metrics.spooled.Set(float64(n))
}

// RunSpool hands the spooled webhooks to the shared store, oldest first, as
// soon as it answers again, until ctx ends. It does nothing without a spool.
func (s *Server) RunSpool(ctx context.Context) {
	if s.cfg.Spool == nil {
		return
	}
	t := time.NewTicker(spoolEvery)
	defer t.Stop()
	waiting := false
	for {
		err := s.DrainSpool(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !waiting:
			// Said once per outage, not every second.
			s.log.Warn("spooled webhooks wait: the shared store is unreachable", "error", err)
			waiting = true
		case err == nil && waiting:
			s.log.Info("spooled webhooks handed to the shared store")
			waiting = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DrainSpool moves every spooled webhook into the shared store and queue. It
// stops at the first error (the store is still down) and keeps the rest.
func (s *Server) DrainSpool(ctx context.Context) error {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if s.spoolLeft == 0 {
		return nil // known empty: no read of the spool file every second
	}
	recs, err := s.cfg.Spool.Jobs(ctx)
	if err != nil {
		return fmt.Errorf("read spool: %w", err)
	}
	left := len(recs)
	defer func() { s.setSpooled(left) }()
	for _, rec := range recs {
		var w Work
		if err := json.Unmarshal(rec.Work, &w); err != nil || w.ID == "" {
			s.log.Error("spooled webhook cannot be read; dropped", "job", rec.ID, "error", err)
			if err := s.cfg.Spool.DeleteJob(ctx, rec.ID); err != nil {
				return err
			}
			left--
			continue
		}
		if err := s.unspool(ctx, w, rec.State == spoolChecked); err != nil {
			return err
		}
		if err := s.cfg.Spool.DeleteJob(ctx, rec.ID); err != nil {
			return fmt.Errorf("remove spooled webhook: %w", err)
		}
		left--
	}
	return nil
}

// unspool records w's delivery in the shared replay log and queues it, as
// handleEvents would have; a delivery already handled (by another replica)
// is dropped. checked says the replay log already found it fresh.
func (s *Server) unspool(ctx context.Context, w Work, checked bool) error {
	log := s.log.With("job", w.ID, "delivery", w.Delivery, "repo", w.Repo.FullName(), "pull", w.Pull.Num)
	if !checked {
		fresh, err := s.cfg.Deliveries.Add(ctx, w.Delivery, w.BodyDigest)
		if err != nil {
			return fmt.Errorf("record webhook delivery: %w", err)
		}
		if !fresh {
			log.Warn("spooled webhook was already handled; dropped", "digest", w.BodyDigest)
			return nil
		}
	}
	digest := w.BodyDigest
	w.BodyDigest = ""
	s.journalQueued(ctx, w)
	if err := s.cfg.Dispatcher.Dispatch(ctx, w); err != nil {
		s.journalDone(ctx, w.ID)
		if !checked {
			s.cfg.Deliveries.Remove(ctx, w.Delivery, digest)
		}
		return fmt.Errorf("queue spooled work: %w", err)
	}
	s.noteRepo(ctx, w.Repo)
	log.Info("spooled webhook queued: the shared store is back", "kind", w.Kind, "waited", s.cfg.Now().Sub(w.Queued).Round(time.Millisecond))
	return nil
}

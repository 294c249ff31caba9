package config

import (
	"hash/fnv"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Drift report channels and remediation modes of a repos.yaml drift block.
const (
	DriftReportIssue  = "issue"
	DriftReportStatus = "status"
	RemediateNone     = "none"
	RemediateApply    = "apply"
)

var (
	driftKeys       = []string{"schedule", "projects", "report", "remediate"}
	driftReports    = []string{DriftReportIssue, DriftReportStatus}
	remediateModes  = []string{RemediateNone, RemediateApply}
	defaultSchedule = "@every 6h"
)

// DriftSettings is a repos.yaml entry's drift block (Atoll-only): the repo's
// default branch is re-planned on Schedule and drift reported as Report says.
type DriftSettings struct {
	// Schedule is a cron expression or "@every D" ("@every 6h" when unset).
	Schedule string
	// Projects are doublestar globs over project names or directories; a
	// project matching none is not checked. ["*"] (every project) when unset.
	Projects []string
	// Report lists where drift is reported: "issue" (an issue that opens,
	// updates and closes itself) and/or "status" (atoll/drift on the default
	// branch's head commit). ["issue"] when unset.
	Report []string
	// Remediate is "none" or "apply" (restore Git's state as soon as drift
	// is found).
	Remediate string

	sched cron.Schedule
}

// DefaultDriftSettings are the settings of a drift block that sets nothing,
// on schedule: every project, reported as issues, not remediated.
func DefaultDriftSettings(schedule string) DriftSettings {
	return DriftSettings{Schedule: schedule, Projects: []string{"*"}, Report: []string{DriftReportIssue}, Remediate: RemediateNone}
}

// Next returns the first check after now for the repository repoID: the
// schedule's next tick, shifted by a delay fixed per repository (up to a
// tenth of the interval, at most five minutes), so repositories on one
// schedule do not all plan at once. Every replica computes the same time.
func (s DriftSettings) Next(repoID string, now time.Time) time.Time {
	sched := s.sched
	if sched == nil {
		var err error
		if sched, err = ParseSchedule(s.Schedule); err != nil {
			return time.Time{}
		}
	}
	// The tick before now may still be due once its jitter is added.
	t := nextTick(sched, now.Add(-jitterCap))
	for {
		at := t.Add(jitter(sched, t, repoID))
		if at.After(now) {
			return at
		}
		t = nextTick(sched, t)
	}
}

// Reports says whether drift is reported to channel ("issue" or "status").
func (s DriftSettings) Reports(channel string) bool { return contains(s.Report, channel) }

// jitterCap bounds the per-repository delay.
const jitterCap = 5 * time.Minute

func jitter(sched cron.Schedule, tick time.Time, repoID string) time.Duration {
	period := nextTick(sched, tick).Sub(tick)
	span := min(period/10, jitterCap)
	if span <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(repoID))
	return time.Duration(h.Sum64() % uint64(span))
}

// ParseSchedule parses a cron expression (five fields) or a descriptor
// ("@hourly", "@every 6h").
func ParseSchedule(s string) (cron.Schedule, error) { return cron.ParseStandard(s) }

// nextTick is the schedule's next time after t. "@every D" ticks are
// aligned to multiples of D (robfig/cron counts them from now), so every
// replica computes the same ticks.
func nextTick(sched cron.Schedule, t time.Time) time.Time {
	if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay > 0 {
		return t.Truncate(every.Delay).Add(every.Delay)
	}
	return sched.Next(t)
}

// drift decodes a repos.yaml entry's drift block.
func (d *decoder) drift(v *yaml.Node, p string) *DriftSettings {
	if isNull(v) {
		return nil
	}
	fields, _, ok := d.mapping(v, p, driftKeys)
	if !ok {
		return nil
	}
	d0 := DefaultDriftSettings(defaultSchedule)
	s := &d0
	if f, set := fields["schedule"]; set {
		if str, ok := d.str(f.val, child(p, "schedule")); ok && d.nonEmpty(resolve(f.val), child(p, "schedule"), str) {
			sched, err := ParseSchedule(str)
			if err != nil {
				d.fail(resolve(f.val), child(p, "schedule"), "invalid schedule %q: %v (use a cron expression such as \"0 */6 * * *\" or \"@every 6h\")", str, err)
			} else {
				s.Schedule, s.sched = str, sched
			}
		}
	}
	if f, set := fields["projects"]; set {
		if list := d.globList(f.val, child(p, "projects")); list != nil {
			s.Projects = list
		}
	}
	if f, set := fields["report"]; set {
		if list, _ := d.enumList(f.val, child(p, "report"), driftReports); list != nil {
			s.Report = list
		}
	}
	if f, set := fields["remediate"]; set {
		if m, ok := d.enum(f.val, child(p, "remediate"), remediateModes); ok {
			s.Remediate = m
		}
	}
	if s.Remediate == RemediateApply && !s.Reports(DriftReportIssue) {
		n := resolve(v)
		if f, set := fields["remediate"]; set {
			n = resolve(f.val)
		}
		d.fail(n, child(p, "remediate"), "remediate: apply needs report to include issue: the apply is recorded on the drift issue")
	}
	if s.sched == nil {
		s.sched, _ = ParseSchedule(s.Schedule)
	}
	return s
}

// DriftFor returns the drift settings of repoID's default branch branch: the
// drift block of the last matching entry that has one.
func (c *ServerConfig) DriftFor(repoID, branch string) (DriftSettings, bool) {
	var out *DriftSettings
	for i := range c.Repos {
		r := &c.Repos[i]
		if r.Drift != nil && r.Matches(repoID, branch) {
			out = r.Drift
		}
	}
	if out == nil {
		return DriftSettings{}, false
	}
	return *out, true
}

// HasDrift reports whether any repos.yaml entry has a drift block.
func (c *ServerConfig) HasDrift() bool {
	for _, r := range c.Repos {
		if r.Drift != nil {
			return true
		}
	}
	return false
}

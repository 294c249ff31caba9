package config

import (
	"gopkg.in/yaml.v3"

	"github.com/atollhq/atoll/notify"
)

// notify decodes a repos.yaml entry's notify list (Atoll-only): webhook
// targets for the events of the matching repositories.
func (d *decoder) notify(v *yaml.Node, p string) []notify.Target {
	out := []notify.Target{}
	if isNull(v) {
		return out
	}
	seq := resolve(v)
	if seq.Kind != yaml.SequenceNode {
		d.fail(seq, p, "must be a list of targets (- url: https://...)")
		return out
	}
	for i, tn := range seq.Content {
		tp := index(p, i)
		fields, _, ok := d.mapping(tn, tp, []string{"url", "format", "events"})
		if !ok {
			continue
		}
		f, set := fields["url"]
		if !set {
			d.fail(resolve(tn), child(tp, "url"), "required key is missing")
			continue
		}
		s, ok := d.str(f.val, child(tp, "url"))
		if !ok {
			continue
		}
		t, err := notify.ParseTarget(s)
		if err != nil {
			d.fail(resolve(f.val), child(tp, "url"), "%v", err)
			continue
		}
		if f, set := fields["format"]; set {
			if m, ok := d.enum(f.val, child(tp, "format"), []string{notify.FormatSlack, notify.FormatJSON}); ok {
				t.Format = m
			}
		}
		if f, set := fields["events"]; set {
			t.Events, _ = d.enumList(f.val, child(tp, "events"), notify.Kinds)
		}
		out = append(out, t)
	}
	return out
}

// NotifyFor returns the notify targets of repoID: those of the last
// matching entry with a notify list.
func (c *ServerConfig) NotifyFor(repoID string) []notify.Target {
	var out []notify.Target
	for i := range c.Repos {
		r := &c.Repos[i]
		if r.Notify != nil && r.Matches(repoID, "") {
			out = r.Notify
		}
	}
	return out
}

// HasNotify reports whether any repos.yaml entry has a notify list.
func (c *ServerConfig) HasNotify() bool {
	for _, r := range c.Repos {
		if len(r.Notify) > 0 {
			return true
		}
	}
	return false
}

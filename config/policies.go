package config

import (
	"gopkg.in/yaml.v3"
)

// Policies is repos.yaml's policies block (conftest policy sets).
type Policies struct {
	ConftestVersion       string
	Owners                PolicyOwners
	ApproveCount          int
	StickyPolicyApprovals bool
	PolicyItemRegex       string
	PolicySets            []PolicySet
}

// PolicyOwners are the users and teams who may approve failing policies.
type PolicyOwners struct {
	Users []string
	Teams []string
}

// PolicySet is one named set of policies.
type PolicySet struct {
	Name               string
	Path               string
	Source             string
	Owners             PolicyOwners
	ApproveCount       int
	PreventSelfApprove bool
	// StickyPolicyApprovals keeps the set's approvals across re-plans as long
	// as its failures bring no new item; PolicyItemRegex finds the items in
	// the failure messages ("" for the default, each message is one item).
	// Both default to the policies block's.
	StickyPolicyApprovals bool
	PolicyItemRegex       string
}

// PrometheusEndpoint is where Atoll serves its metrics, the one
// metrics.prometheus.endpoint it accepts.
const PrometheusEndpoint = "/metrics"

// Metrics is repos.yaml's metrics block, kept for Atlantis compatibility:
// only prometheus.endpoint /metrics is accepted.
func (d *decoder) policies(v *yaml.Node, p string) *Policies {
	fields, _, ok := d.mapping(v, p, []string{"conftest_version", "owners", "approve_count", "sticky_policy_approvals", "policy_item_regex", "policy_sets"})
	if !ok {
		return nil
	}
	pol := &Policies{ApproveCount: 1}
	if f, set := fields["conftest_version"]; set {
		pol.ConftestVersion, _ = d.str(f.val, child(p, "conftest_version"))
		d.warn(f.key, child(p, "conftest_version"), "has no effect: Atoll checks policies in-process with OPA, not with a conftest binary")
	}
	if f, set := fields["owners"]; set {
		pol.Owners = d.owners(f.val, child(p, "owners"))
	}
	if f, set := fields["approve_count"]; set {
		pol.ApproveCount = d.approveCount(f.val, child(p, "approve_count"), pol.ApproveCount)
	}
	if f, set := fields["sticky_policy_approvals"]; set {
		pol.StickyPolicyApprovals, _ = d.boolean(f.val, child(p, "sticky_policy_approvals"))
	}
	if f, set := fields["policy_item_regex"]; set {
		pol.PolicyItemRegex, _ = d.regex(f.val, child(p, "policy_item_regex"))
	}
	f, set := fields["policy_sets"]
	if !set || isNull(f.val) {
		d.fail(resolve(v), child(p, "policy_sets"), "required key is missing")
		return pol
	}
	sp := child(p, "policy_sets")
	seq := resolve(f.val)
	if seq.Kind != yaml.SequenceNode {
		d.fail(seq, sp, "must be a list of policy sets")
		return pol
	}
	for i, sn := range seq.Content {
		ip := index(sp, i)
		sf, _, ok := d.mapping(sn, ip, []string{"name", "path", "source", "owners", "approve_count", "prevent_self_approve", "sticky_policy_approvals", "policy_item_regex"})
		if !ok {
			continue
		}
		ps := PolicySet{ApproveCount: pol.ApproveCount, StickyPolicyApprovals: pol.StickyPolicyApprovals, PolicyItemRegex: pol.PolicyItemRegex}
		req := func(key string) string {
			f, set := sf[key]
			if !set {
				d.fail(resolve(sn), child(ip, key), "required key is missing")
				return ""
			}
			s, _ := d.str(f.val, child(ip, key))
			return s
		}
		ps.Name, ps.Path, ps.Source = req("name"), req("path"), req("source")
		if f, set := sf["source"]; set && ps.Source != "" && ps.Source != "local" {
			d.fail(resolve(f.val), child(ip, "source"), "%q is not supported; use local", ps.Source)
		}
		if f, set := sf["owners"]; set {
			ps.Owners = d.owners(f.val, child(ip, "owners"))
		}
		if f, set := sf["approve_count"]; set {
			ps.ApproveCount = d.approveCount(f.val, child(ip, "approve_count"), ps.ApproveCount)
		}
		if f, set := sf["prevent_self_approve"]; set {
			ps.PreventSelfApprove, _ = d.boolean(f.val, child(ip, "prevent_self_approve"))
		}
		if f, set := sf["sticky_policy_approvals"]; set {
			if b, ok := d.boolean(f.val, child(ip, "sticky_policy_approvals")); ok {
				ps.StickyPolicyApprovals = b
			}
		}
		if f, set := sf["policy_item_regex"]; set {
			if re, ok := d.regex(f.val, child(ip, "policy_item_regex")); ok {
				ps.PolicyItemRegex = re
			}
		}
		pol.PolicySets = append(pol.PolicySets, ps)
	}
	return pol
}

// approveCount decodes an approve_count: an integer of at least 1. It
// returns def when the value is invalid.
func (d *decoder) approveCount(v *yaml.Node, p string, def int) int {
	n, ok := d.integer(v, p)
	if !ok {
		return def
	}
	if n < 1 {
		d.fail(resolve(v), p, "must be at least 1 (the number of policy owners who must approve a failing policy set)")
		return def
	}
	return n
}

// customPolicyCheck reads custom_policy_check among the fields of the
// mapping at p. false is what Atoll does; true is refused.
func (d *decoder) customPolicyCheck(fields map[string]field, p string) *bool {
	b := d.optBool(fields, p, "custom_policy_check")
	if b != nil && *b {
		d.fail(resolve(fields["custom_policy_check"].val), child(p, "custom_policy_check"),
			"true is not supported yet: Atoll checks policies only with its built-in OPA check of repos.yaml's policy sets. "+
				"To run another policy tool, add `- show` and `- run: <tool> $SHOWFILE` after `- plan` in the workflow's plan stage, where a failing command fails the plan")
		return nil
	}
	return b
}

func (d *decoder) owners(v *yaml.Node, p string) PolicyOwners {
	var o PolicyOwners
	if isNull(v) {
		return o
	}
	fields, _, ok := d.mapping(v, p, []string{"users", "teams"})
	if !ok {
		return o
	}
	if f, set := fields["users"]; set {
		o.Users, _ = d.strList(f.val, child(p, "users"))
	}
	if f, set := fields["teams"]; set {
		o.Teams, _ = d.strList(f.val, child(p, "teams"))
	}
	return o
}

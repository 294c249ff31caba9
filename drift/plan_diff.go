package drift

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"unicode/utf8"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/atollhq/atoll/templates"
)

// diffPlan reads a plan's JSON (terraform show -json) and returns the resources
// changed outside Terraform (resource_drift) and the changes that are in Git but
// not applied (the plan's other resource changes).
func diffPlan(planJSON []byte) (drift []templates.DriftResource, pending []templates.Resource, err error) {
	var plan tfjson.Plan
	if err := json.Unmarshal(planJSON, &plan); err != nil {
		return nil, nil, fmt.Errorf("read plan JSON: %w", err)
	}
	drifted := map[string]bool{}
	for _, rc := range plan.ResourceDrift {
		if rc == nil || rc.Change == nil || rc.Change.Actions.NoOp() {
			continue
		}
		dr := templates.DriftResource{Address: rc.Address, Action: "update"}
		if rc.Change.Actions.Delete() {
			dr.Action = "delete"
		} else {
			dr.Attrs = changedAttrs(rc.Change)
		}
		drift = append(drift, dr)
		drifted[rc.Address] = true
	}
	for _, rc := range plan.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Change.Actions.NoOp() || rc.Change.Actions.Read() || drifted[rc.Address] {
			continue
		}
		pending = append(pending, templates.Resource{Action: action(rc.Change.Actions), Address: rc.Address})
	}
	return drift, pending, nil
}

// changedAttrs lists the top-level attributes whose value differs between the
// last applied state (Git's) and reality. Sensitive values are never shown.
func changedAttrs(c *tfjson.Change) []templates.DriftAttr {
	before, _ := c.Before.(map[string]any)
	after, _ := c.After.(map[string]any)
	bs, _ := c.BeforeSensitive.(map[string]any)
	as, _ := c.AfterSensitive.(map[string]any)
	// A marker of true (not an object) makes the whole value sensitive.
	all := sensitive(c.BeforeSensitive) && bs == nil || sensitive(c.AfterSensitive) && as == nil
	var names []string
	for k := range before {
		names = append(names, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []templates.DriftAttr
	for _, k := range names {
		if reflect.DeepEqual(before[k], after[k]) {
			continue
		}
		a := templates.DriftAttr{Name: k, Git: show(before[k]), Reality: show(after[k])}
		if all || sensitive(bs[k]) || sensitive(as[k]) {
			a.Git, a.Reality = "(sensitive)", "(sensitive)"
		}
		out = append(out, a)
	}
	return out
}

// sensitive reports whether a *_sensitive marker marks a value (or part of it) sensitive.
func sensitive(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case map[string]any:
		for _, x := range t {
			if sensitive(x) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(t, sensitive)
	}
	return false
}

// show renders a value as JSON, the way Terraform users read literals.
func show(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		// Cut at a character boundary, so the issue body stays valid UTF-8.
		n := 197
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		return string(b[:n]) + "..."
	}
	return string(b)
}

func action(a tfjson.Actions) string {
	switch {
	case a.Replace():
		return templates.ActionReplace
	case a.Create():
		return templates.ActionCreate
	case a.Delete():
		return templates.ActionDelete
	default:
		return templates.ActionUpdate
	}
}

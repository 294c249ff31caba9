package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	tfjson "github.com/hashicorp/terraform-json"
)

// Resource change actions, as ResourceChange.Action names them.
const (
	ActionCreate  = "create"
	ActionUpdate  = "update"
	ActionDelete  = "delete"
	ActionReplace = "replace"
	ActionRead    = "read"
	// ActionImport is an import of an existing object with no other change.
	ActionImport = "import"
	// ActionForget removes an object from state without destroying it (terraform 1.7+).
	ActionForget = "forget"
)

// PlanSummary is what a saved plan says, read from `terraform show -json`.
type PlanSummary struct {
	// Add, Change and Destroy count resources the way terraform's "Plan: ..."
	// line does: a replacement counts as one add and one destroy.
	Add, Change, Destroy int
	// Import counts resources the plan imports.
	Import int
	// HasChanges is true when applying the plan would change anything,
	// outputs included.
	HasChanges bool
	// Resources lists every resource the plan acts on, in the plan's order.
	Resources []ResourceChange
	// Drift lists resources that changed outside Terraform since the last
	// apply (the plan's resource_drift).
	Drift []ResourceChange
	// ChangesDigest is the hex SHA-256 of what applying the plan would do
	// (its resource_changes and output_changes as JSON): two plans with the
	// same digest make the same changes, so an approval of one covers the
	// other. Empty when it could not be computed.
	ChangesDigest string
}

// ResourceChange is one resource and what happens to it.
type ResourceChange struct {
	// Address is the resource's address, for example "terraform_data.web" or
	// "module.net.aws_vpc.main[0]".
	Address string
	// Action is one of the Action* constants.
	Action string
}

// summarizePlan counts a plan's resource changes and lists them.
func summarizePlan(p *tfjson.Plan, hasChanges bool) *PlanSummary {
	s := &PlanSummary{HasChanges: hasChanges}
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Change == nil {
			continue
		}
		importing := rc.Change.Importing != nil
		if importing {
			s.Import++
		}
		action := actionOf(rc.Change.Actions)
		switch action {
		case ActionCreate:
			s.Add++
		case ActionUpdate:
			s.Change++
		case ActionDelete:
			s.Destroy++
		case ActionReplace:
			s.Add++
			s.Destroy++
		case "":
			if !importing {
				continue
			}
			action = ActionImport
		}
		s.Resources = append(s.Resources, ResourceChange{Address: rc.Address, Action: action})
	}
	for _, rc := range p.ResourceDrift {
		if rc == nil || rc.Change == nil {
			continue
		}
		if action := actionOf(rc.Change.Actions); action != "" {
			s.Drift = append(s.Drift, ResourceChange{Address: rc.Address, Action: action})
		}
	}
	if s.Add+s.Change+s.Destroy+s.Import > 0 {
		s.HasChanges = true
	}
	if b, err := json.Marshal(struct {
		R []*tfjson.ResourceChange  `json:"resource_changes"`
		O map[string]*tfjson.Change `json:"output_changes"`
	}{p.ResourceChanges, p.OutputChanges}); err == nil {
		sum := sha256.Sum256(b)
		s.ChangesDigest = hex.EncodeToString(sum[:])
	}
	return s
}

// actionOf names an action list; "" for no-op.
func actionOf(a tfjson.Actions) string {
	switch {
	case a.Replace():
		return ActionReplace
	case a.Create():
		return ActionCreate
	case a.Update():
		return ActionUpdate
	case a.Delete():
		return ActionDelete
	case a.Read():
		return ActionRead
	case a.Forget():
		return ActionForget
	default:
		return ""
	}
}

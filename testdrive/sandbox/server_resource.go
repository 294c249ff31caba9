package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// serverResource is sandbox_server: one server in the cloud file.
type serverResource struct {
	cloud cloud // set by Configure; zero until the provider is configured
}

var (
	_ resource.Resource                = (*serverResource)(nil)
	_ resource.ResourceWithConfigure   = (*serverResource)(nil)
	_ resource.ResourceWithImportState = (*serverResource)(nil)
)

func newServerResource() resource.Resource { return &serverResource{} }

// serverModel is sandbox_server's attributes.
type serverModel struct {
	ID   types.String `tfsdk:"id"`
	Name types.String `tfsdk:"name"`
	Size types.String `tfsdk:"size"`
	Tags types.Map    `tfsdk:"tags"`
}

// Metadata names the resource type sandbox_server.
func (r *serverResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_server"
}

// Schema declares name, size, tags and the computed id.
func (r *serverResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A server in the sandbox cloud file.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				Description:   "Assigned by the cloud on create (srv-1, srv-2, ...).",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required:    true,
				Description: "Server name, unique within the cloud file.",
			},
			"size": schema.StringAttribute{
				Required:    true,
				Description: "Server size, free text (small, large).",
			},
			"tags": schema.MapAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "Labels on the server.",
			},
		},
	}
}

// Configure receives the cloud from the provider.
func (r *serverResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if req.ProviderData == nil {
		return // not configured yet (validation); CRUD calls always come configured
	}
	c, ok := req.ProviderData.(cloud)
	if !ok {
		resp.Diagnostics.AddError("unexpected provider data", fmt.Sprintf("sandbox_server got %T, want the sandbox cloud", req.ProviderData))
		return
	}
	r.cloud = c
}

// Create adds the server to the cloud file.
func (r *serverResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan serverModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, diags := fromModel(ctx, plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, err := r.cloud.create(s)
	if err != nil {
		resp.Diagnostics.AddError("cannot create server", err.Error())
		return
	}
	state, diags := toModel(ctx, s)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, state)...)
}

// Read refreshes the server from the cloud file; a server gone from the file
// is removed from state, so the next plan creates it again.
func (r *serverResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state serverModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, err := r.cloud.get(state.ID.ValueString())
	if errors.Is(err, ErrNotFound) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("cannot read server", err.Error())
		return
	}
	fresh, diags := toModel(ctx, s)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, fresh)...)
}

// Update writes the planned attributes over the server, keeping its id.
func (r *serverResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior serverModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, diags := fromModel(ctx, plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	s.ID = prior.ID.ValueString()
	if err := r.cloud.put(s); err != nil {
		resp.Diagnostics.AddError("cannot update server", err.Error())
		return
	}
	state, diags := toModel(ctx, s)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, state)...)
}

// Delete removes the server from the cloud file.
func (r *serverResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state serverModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.cloud.remove(state.ID.ValueString()); err != nil {
		resp.Diagnostics.AddError("cannot delete server", err.Error())
	}
}

// ImportState adopts an existing server by id: terraform import sandbox_server.web srv-1.
func (r *serverResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

// fromModel turns planned attributes into a cloud server (without id).
func fromModel(ctx context.Context, m serverModel) (Server, diag.Diagnostics) {
	s := Server{Name: m.Name.ValueString(), Size: m.Size.ValueString()}
	var diags diag.Diagnostics
	if !m.Tags.IsNull() && !m.Tags.IsUnknown() {
		tags := map[string]string{}
		diags = m.Tags.ElementsAs(ctx, &tags, false)
		s.Tags = tags
	}
	return s, diags
}

// toModel turns a cloud server into state; no tags in the cloud is a null map.
func toModel(ctx context.Context, s Server) (serverModel, diag.Diagnostics) {
	m := serverModel{
		ID:   types.StringValue(s.ID),
		Name: types.StringValue(s.Name),
		Size: types.StringValue(s.Size),
		Tags: types.MapNull(types.StringType),
	}
	if s.Tags == nil {
		return m, nil
	}
	tags, diags := types.MapValueFrom(ctx, types.StringType, s.Tags)
	m.Tags = tags
	return m, diags
}

// Package sandbox is Atoll's own Terraform provider for demos and tests: its
// "cloud" is a JSON file on disk. Editing that file is someone changing a
// server in a cloud console, and Terraform's next plan reports it as drift
// (resource_drift in the plan JSON), with no network and no cloud account.
//
// The provider (registry.terraform.io/atoll/sandbox, version 0.1.0) has one
// setting, cloud (the path of the JSON file, created if missing), and one
// resource, sandbox_server (name, size, optional tags; computed id).
//
//	provider "sandbox" { cloud = "/tmp/demo/cloud.json" }
//	resource "sandbox_server" "web" {
//	  name = "web"
//	  size = "small"
//	}
//
// cmd/terraform-provider-sandbox builds the plugin binary; InstallMirror and
// CLIConfig install it offline through a filesystem mirror. SetAttribute,
// RemoveServer and Servers read and change the cloud from Go, for tests and
// `atoll testdrive`.
package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

const (
	// Address is the provider's source address; configurations declare it as
	// source = "atoll/sandbox" in required_providers.
	Address = "registry.terraform.io/atoll/sandbox"
	// Version is the provider version InstallMirror lays the binary out as.
	Version = "0.1.0"
	// TypeName prefixes the provider's resource types (sandbox_server).
	TypeName = "sandbox"
)

// ServeProvider serves the provider over Terraform's plugin protocol (v6) and
// returns when Terraform is done with it; it is all the provider's main does.
// Terraform starts the binary itself; run by hand it prints that it is a plugin
// and exits with status 1, as does any other serve failure.
func ServeProvider() {
	err := providerserver.Serve(context.Background(), New, providerserver.ServeOpts{Address: Address})
	if err != nil {
		fmt.Fprintf(os.Stderr, "terraform-provider-sandbox: %v\n", err)
		os.Exit(1)
	}
}

// Provider is the sandbox provider; New returns one.
type Provider struct{}

var _ provider.Provider = (*Provider)(nil)

// New returns the sandbox provider, for providerserver.
func New() provider.Provider { return &Provider{} }

// providerModel is the provider block.
type providerModel struct {
	Cloud types.String `tfsdk:"cloud"`
	Delay types.String `tfsdk:"configure_delay"`
}

// Metadata names the provider and its version.
func (p *Provider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = TypeName
	resp.Version = Version
}

// Schema declares the provider block: cloud, the JSON file.
func (p *Provider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A pretend cloud kept in a JSON file, for Atoll's demo and tests.",
		Attributes: map[string]schema.Attribute{
			"cloud": schema.StringAttribute{
				Required:    true,
				Description: "Path of the JSON file that is the cloud (created if missing). A relative path is relative to Terraform's working directory.",
			},
			"configure_delay": schema.StringAttribute{
				Optional:    true,
				Description: "How long configuring the provider takes (a Go duration such as \"60s\"), or until Terraform is interrupted: a slow cloud API, for tests of cancellation.",
			},
		},
	}
}

// Configure opens (creating if needed) the cloud file and hands it to resources.
func (p *Provider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if cfg.Cloud.IsUnknown() {
		resp.Diagnostics.AddError("cloud is unknown", "The sandbox provider's cloud path must be known when planning; do not derive it from a resource.")
		return
	}
	if cfg.Cloud.IsNull() || cfg.Cloud.ValueString() == "" {
		resp.Diagnostics.AddError("cloud is empty", "Set cloud to the path of the sandbox's JSON file.")
		return
	}
	path, err := filepath.Abs(cfg.Cloud.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("cannot resolve cloud path", err.Error())
		return
	}
	if d := cfg.Delay.ValueString(); d != "" {
		delay, err := time.ParseDuration(d)
		if err != nil {
			resp.Diagnostics.AddError("configure_delay is not a duration", err.Error())
			return
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done(): // terraform was interrupted and stops the provider
			resp.Diagnostics.AddError("interrupted", "Terraform stopped the provider while it was configuring.")
			return
		}
	}
	c := cloud{path: path}
	if err := c.ensure(); err != nil {
		resp.Diagnostics.AddError("cannot open the sandbox cloud", err.Error())
		return
	}
	resp.ResourceData = c
}

// DataSources returns none: the sandbox has only a resource.
func (p *Provider) DataSources(context.Context) []func() datasource.DataSource { return nil }

// Resources returns sandbox_server.
func (p *Provider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newServerResource}
}

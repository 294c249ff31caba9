# syntax=docker/dockerfile:1
# Multi-stage build: Atoll and terraform are built from source with the Go module
# proxy, and the runtime image runs as a non-root user. The Helm chart in
# deploy/helm/atoll relies on the uid and gid (10001), the data dir and the
# port below; deploy/helm's test checks that they agree.
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
ARG TF_VERSION=1.5.7
WORKDIR /src
RUN GOBIN=/out go install github.com/hashicorp/terraform@v${TF_VERSION}
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/atoll ./cmd/atoll

FROM debian:bookworm-slim
# The data dir exists and belongs to atoll, so a new volume mounted there
# does too. The server writes nowhere else but /tmp, so the image also runs
# with a read-only root filesystem (docker run --read-only --tmpfs /tmp).
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 atoll \
    && useradd --create-home --uid 10001 --gid 10001 atoll \
    && install -d -o 10001 -g 10001 -m 0700 /home/atoll/data
COPY --from=build /out/terraform /usr/local/bin/terraform
COPY --from=build /out/atoll /usr/local/bin/atoll
# Numeric, so that Kubernetes can check runAsNonRoot.
USER 10001:10001
ENV ATOLL_DATA_DIR=/home/atoll/data
VOLUME /home/atoll/data
EXPOSE 4141
ENTRYPOINT ["atoll"]
CMD ["server"]

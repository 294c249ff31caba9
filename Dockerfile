# syntax=docker/dockerfile:1
# Multi-stage build: Atoll and terraform are built from source with the Go module
# proxy, and the runtime image runs as a non-root user.
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
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 atoll
COPY --from=build /out/terraform /usr/local/bin/terraform
COPY --from=build /out/atoll /usr/local/bin/atoll
USER atoll
ENV ATOLL_DATA_DIR=/home/atoll/data
VOLUME /home/atoll/data
EXPOSE 4141
ENTRYPOINT ["atoll"]
CMD ["server"]

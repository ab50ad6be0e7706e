# syntax=docker/dockerfile:1
# Build: docker build -t paylinks .
# Run:   docker run -p 8080:8080 -v paylinks-data:/data paylinks
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Generated templ files are committed: no templ step here. The flags are
# `make build`'s (LDFLAGS in the Makefile).
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/paylinks ./cmd/paylinks && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/paylinks /usr/local/bin/paylinks
# The data directory belongs to the nonroot user (65532) so a new volume does too.
COPY --from=build --chown=65532:65532 /out/data /data
ENV PAYLINKS_ADDR=0.0.0.0:8080 \
    PAYLINKS_DB=/data/paylinks.db
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/paylinks", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/paylinks"]
CMD ["serve"]

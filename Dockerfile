# syntax=docker/dockerfile:1
# authproxy container image: build with the Rust toolchain, run on distroless (glibc, CA
# certificates, no shell). Build: docker build -t authproxy:0.1.0 .

# The builder and the runtime share Debian 12 (bookworm), so the binary's glibc matches.
# Rust 1.95: the toolchain link/symbol-order.txt was written for (build.rs says why it matters).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo ./.cargo
COPY link ./link
COPY src ./src
# The release profile keeps the symbol table for profiling; the image does not need it.
RUN cargo build --release --locked \
 && install -D -m 0755 target/release/authproxy /out/authproxy \
 && strip --strip-all /out/authproxy

# distroless/cc: glibc, libgcc and /etc/ssl/certs (CA certificates for the provider's TLS).
FROM gcr.io/distroless/cc-debian12
COPY --from=build /out/authproxy /usr/local/bin/authproxy
# Non-root, numeric so that Kubernetes' runAsNonRoot can verify it. authproxy writes no files:
# the image works with readOnlyRootFilesystem (config and templates are mounted read-only).
USER 2000:2000
EXPOSE 4180
ENTRYPOINT ["/usr/local/bin/authproxy"]
CMD ["--config=/etc/authproxy/authproxy.cfg"]

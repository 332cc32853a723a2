//! The costs scopeup adds, each beside a baseline measured in the same run: `token_for` on a
//! held grant in each store, sealing and opening a grant, parsing `WWW-Authenticate`,
//! classifying a refusal per preset, rendering the picker for Cloudflare's catalog, and the
//! callback with the provider answering in-process. Ends with the ratio table.
//!
//! `cargo bench -p scopeup-bench` runs it; `cargo xtask bench` runs it with the load run. Redis
//! is started from the system's `redis-server` (or `SCOPEUP_TEST_REDIS_URL`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark's setup failing is a bug to see at once, and its job is to print"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use scopeup::Engine;
use scopeup_bench::report::{Comparison, output_directory, ratio_table};
use scopeup_bench::{NOTES, engine, notes_provider, principal, sample_grant, start_authorization};
use scopeup_core::ports::SystemClock;
use scopeup_core::www_authenticate::parse_challenges;
use scopeup_core::{
    ClientSecret, HttpMethod, HttpResponse, ProviderId, ScopeSet, Store, StoreKey, UpstreamCall,
};
use scopeup_oauth::Provider;
use scopeup_oauth::presets::{self, PresetClient};
use scopeup_store::conformance::RedisServer;
use scopeup_store::{
    KeyId, KeyRing, MemoryStore, RedisConfig, RedisStore, SealedStore, SealingKey, SqliteStore,
};

/// How long a stored record lives in the benchmarks.
const TTL: Duration = Duration::from_secs(3600);

/// A refusal header as Google sends it, with a resource metadata URL as an MCP server's has.
const CHALLENGE: &str = "Bearer realm=\"https://accounts.google.com/\", \
    error=\"insufficient_scope\", \
    error_description=\"Request had insufficient authentication scopes.\", \
    scope=\"https://www.googleapis.com/auth/drive.readonly \
    https://www.googleapis.com/auth/drive.file https://www.googleapis.com/auth/drive\", \
    resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/mcp\"";

fn main() {
    let mut criterion = Criterion::default()
        .output_directory(&output_directory())
        .configure_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    token_for(&mut criterion, &runtime);
    sealing(&mut criterion, &runtime);
    www_authenticate(&mut criterion);
    classify(&mut criterion);
    picker(&mut criterion, &runtime);
    callback(&mut criterion, &runtime);
    criterion.final_summary();

    println!("\n{}", ratio_table(&output_directory(), COMPARISONS));
}

/// Each benchmark and its baseline, as the table prints them.
const COMPARISONS: &[Comparison] = &[
    Comparison {
        label: "token_for, memory store",
        measured: "token_for/memory",
        baseline: "token_for/memory_baseline",
        baseline_is: "SHA-256 of the key + one unsealed read",
    },
    Comparison {
        label: "token_for, SQLite store",
        measured: "token_for/sqlite",
        baseline: "token_for/sqlite_baseline",
        baseline_is: "SHA-256 of the key + one unsealed read",
    },
    Comparison {
        label: "token_for, Redis store",
        measured: "token_for/redis",
        baseline: "token_for/redis_baseline",
        baseline_is: "SHA-256 of the key + one unsealed read",
    },
    Comparison {
        label: "seal and store a grant",
        measured: "seal/sealed_put",
        baseline: "seal/plain_put",
        baseline_is: "the same put, unsealed",
    },
    Comparison {
        label: "read and open a grant",
        measured: "seal/sealed_get",
        baseline: "seal/plain_get",
        baseline_is: "the same get, unsealed",
    },
    Comparison {
        label: "parse WWW-Authenticate",
        measured: "www_authenticate/parse",
        baseline: "www_authenticate/split_baseline",
        baseline_is: "splitting at commas and `=`, quotes ignored",
    },
    Comparison {
        label: "classify a GitHub refusal",
        measured: "classify/github",
        baseline: "classify/github_baseline",
        baseline_is: "splitting its two scope headers",
    },
    Comparison {
        label: "classify a Google refusal",
        measured: "classify/google",
        baseline: "classify/google_baseline",
        baseline_is: "parsing its WWW-Authenticate",
    },
    Comparison {
        label: "classify a Slack refusal",
        measured: "classify/slack",
        baseline: "classify/slack_baseline",
        baseline_is: "parsing its JSON body",
    },
    Comparison {
        label: "classify a Cloudflare refusal",
        measured: "classify/cloudflare",
        baseline: "classify/cloudflare_baseline",
        baseline_is: "parsing its JSON body",
    },
    Comparison {
        label: "picker page, Cloudflare (78 scopes)",
        measured: "picker/cloudflare",
        baseline: "picker/notes_baseline",
        baseline_is: "the same page for 5 scopes",
    },
    Comparison {
        label: "callback, provider in-process",
        measured: "callback/complete",
        baseline: "callback/store_baseline",
        baseline_is: "its sealed state take + grant put",
    },
];

/// `token_for` on a held grant against one hash and one unsealed read, in each store.
fn token_for(criterion: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    // The SQLite store closes its connections on the runtime when it is dropped.
    let _runtime = runtime.enter();
    let directory = tempfile::tempdir().unwrap();
    let redis = RedisServer::shared_or_start();
    let stores: Vec<(&str, Arc<dyn Store>)> = runtime.block_on(async {
        let sqlite = SqliteStore::open(directory.path().join("bench.sqlite3"), clock())
            .await
            .unwrap();
        let redis = RedisStore::new(redis.url(), &RedisConfig::default()).unwrap();
        redis.ping().await.unwrap();
        vec![
            (
                "memory",
                Arc::new(MemoryStore::new(clock())) as Arc<dyn Store>,
            ),
            ("sqlite", Arc::new(sqlite)),
            ("redis", Arc::new(redis)),
        ]
    });

    let mut group = criterion.benchmark_group("token_for");
    for (name, store) in stores {
        let engine = engine(store.clone(), [notes_provider().unwrap()]).unwrap();
        let alice = principal("alice").unwrap();
        let notes = ProviderId::new(NOTES).unwrap();
        runtime
            .block_on(scopeup_bench::connect(&engine, &alice))
            .unwrap();

        group.bench_function(name, |bencher| {
            bencher
                .to_async(runtime)
                .iter(|| async { black_box(engine.token_for(&alice, &notes).await.unwrap()) });
        });
        group.bench_function(format!("{name}_baseline"), |bencher| {
            bencher.to_async(runtime).iter(|| async {
                let key = StoreKey::hashed("grant", &[alice.subject(), notes.as_str()]);
                black_box(store.get(&key).await.unwrap().unwrap())
            });
        });
    }
    group.finish();
}

/// A grant sealed into and opened from a memory store, against the same store unsealed.
fn sealing(criterion: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let plain: Arc<dyn Store> = Arc::new(MemoryStore::new(clock()));
    let ring = KeyRing::new(
        KeyId::new("bench").unwrap(),
        SealingKey::from_bytes([7; 32]),
    );
    let sealed = SealedStore::new(plain.clone(), ring, Arc::new(scopeup::OsRandom));
    let value = serde_json::to_vec(&sample_grant("alice").unwrap()).unwrap();
    let sealed_key = StoreKey::hashed("grant", &["sealed"]);
    let plain_key = StoreKey::hashed("grant", &["plain"]);

    let mut group = criterion.benchmark_group("seal");
    for (name, store, key) in [
        ("sealed", &sealed as &dyn Store, &sealed_key),
        ("plain", plain.as_ref(), &plain_key),
    ] {
        group.bench_function(format!("{name}_put"), |bencher| {
            bencher.to_async(runtime).iter(|| async {
                store.put(key, value.clone(), Some(TTL)).await.unwrap();
            });
        });
        group.bench_function(format!("{name}_get"), |bencher| {
            bencher
                .to_async(runtime)
                .iter(|| async { black_box(store.get(key).await.unwrap().unwrap()) });
        });
    }
    group.finish();
}

/// The full RFC 7235 parser against the cheapest split that ignores quoting.
fn www_authenticate(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("www_authenticate");
    group.bench_function("parse", |bencher| {
        bencher.iter(|| black_box(parse_challenges(black_box(CHALLENGE)).unwrap()));
    });
    group.bench_function("split_baseline", |bencher| {
        bencher.iter(|| {
            let pairs: Vec<(&str, &str)> = black_box(CHALLENGE)
                .split(',')
                .filter_map(|part| part.split_once('='))
                .collect();
            black_box(pairs)
        });
    });
    group.finish();
}

/// Each preset's classifier on a refusal shaped as the provider sends it, against parsing the
/// part of the answer it reads.
fn classify(criterion: &mut Criterion) {
    let client = || {
        PresetClient::new(
            "bench",
            Some(ClientSecret::new("secret".to_owned())),
            url::Url::parse("https://mcp.example/oauth/callback").unwrap(),
        )
    };
    let held = ScopeSet::parse("repo:status read:user").unwrap();

    let github = presets::github(client()).unwrap();
    let github_refusal = HttpResponse::new(403)
        .with_header("x-oauth-scopes", "repo:status, read:user")
        .with_header("x-accepted-oauth-scopes", "repo, public_repo")
        .with_body(r#"{"message":"Resource not accessible by integration","status":"403"}"#);
    let google = presets::google(client()).unwrap();
    let google_refusal = HttpResponse::new(403).with_header("www-authenticate", CHALLENGE);
    let slack = presets::slack(client()).unwrap();
    let slack_refusal = HttpResponse::new(200).with_body(
        r#"{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"channels:read,users:read"}"#,
    );
    let cloudflare = presets::cloudflare(client()).unwrap();
    let cloudflare_refusal = HttpResponse::new(403).with_body(
        r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#,
    );
    let cloudflare_call = UpstreamCall::new(
        HttpMethod::Put,
        url::Url::parse(
            "https://api.cloudflare.com/client/v4/accounts/023e105f4ecef8ad9ca31a8372d0c353/workers/scripts/hello",
        )
        .unwrap(),
    );
    let cloudflare_held = ScopeSet::parse("user:read account:read offline_access").unwrap();

    let mut group = criterion.benchmark_group("classify");
    let bench_preset = |group: &mut criterion::BenchmarkGroup<'_, _>,
                        name: &str,
                        provider: &Provider,
                        refusal: &HttpResponse,
                        held: &ScopeSet| {
        group.bench_function(name, |bencher| {
            bencher.iter(|| black_box(provider.behaviour.classify(black_box(refusal), held)));
        });
    };
    bench_preset(&mut group, "github", &github, &github_refusal, &held);
    bench_preset(&mut group, "google", &google, &google_refusal, &held);
    bench_preset(&mut group, "slack", &slack, &slack_refusal, &held);
    group.bench_function("cloudflare", |bencher| {
        bencher.iter(|| {
            black_box(cloudflare.behaviour.classify_call(
                &cloudflare_call,
                black_box(&cloudflare_refusal),
                &cloudflare_held,
            ))
        });
    });

    group.bench_function("github_baseline", |bencher| {
        bencher.iter(|| {
            let response = black_box(&github_refusal);
            let held = ScopeSet::parse_delimited(
                response.header("x-oauth-scopes").unwrap_or_default(),
                |c| c == ',' || c == ' ',
            );
            let accepted = ScopeSet::parse_delimited(
                response
                    .header("x-accepted-oauth-scopes")
                    .unwrap_or_default(),
                |c| c == ',' || c == ' ',
            );
            black_box((held, accepted))
        });
    });
    group.bench_function("google_baseline", |bencher| {
        bencher.iter(|| black_box(parse_challenges(black_box(CHALLENGE)).unwrap()));
    });
    for (name, body) in [
        ("slack_baseline", &slack_refusal.body),
        ("cloudflare_baseline", &cloudflare_refusal.body),
    ] {
        group.bench_function(name, |bencher| {
            bencher.iter(|| {
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(body)).unwrap())
            });
        });
    }
    group.finish();
}

/// The picker page (GET) for Cloudflare's 78-scope catalog, against the same page for the
/// example's five scopes.
fn picker(criterion: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let config = scopeup_bench::engine_config().unwrap();
    let cloudflare = presets::cloudflare(PresetClient::new(
        "bench",
        Some(ClientSecret::new("secret".to_owned())),
        config.redirect_uri(),
    ))
    .unwrap();
    let cloudflare_id = cloudflare.config.id.clone();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock()));
    let engine = engine(store, [notes_provider().unwrap(), cloudflare]).unwrap();
    let alice = principal("alice").unwrap();

    let mut group = criterion.benchmark_group("picker");
    for (name, provider) in [
        ("cloudflare", cloudflare_id),
        ("notes_baseline", ProviderId::new(NOTES).unwrap()),
    ] {
        let (id, browser) = runtime.block_on(async {
            let id = scopeup_bench::open_elicitation(&engine, &alice, &provider)
                .await
                .unwrap();
            let first = engine.connect_page(&id, None).await;
            let cookie = first.set_cookie.unwrap();
            let browser = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
            (id, browser.to_owned())
        });
        group.bench_function(name, |bencher| {
            bencher
                .to_async(runtime)
                .iter(|| async { black_box(engine.connect_page(&id, Some(&browser)).await) });
        });
    }
    group.finish();
}

/// The callback of a first connect (state taken, code exchanged, account checked, grant sealed
/// and stored, elicitation completed), with the provider answering in-process, against the
/// store work it cannot skip.
fn callback(criterion: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock()));
    let engine = engine(store, [notes_provider().unwrap()]).unwrap();
    let notes = ProviderId::new(NOTES).unwrap();
    let serial = std::sync::atomic::AtomicU64::new(0);

    let mut group = criterion.benchmark_group("callback");
    group.bench_function("complete", |bencher| {
        bencher.to_async(runtime).iter_custom(|iterations| {
            let (engine, notes, serial) = (&engine, &notes, &serial);
            async move { time_callbacks(engine, notes, serial, iterations).await }
        });
    });

    let plain: Arc<dyn Store> = Arc::new(MemoryStore::new(clock()));
    let ring = KeyRing::new(
        KeyId::new("bench").unwrap(),
        SealingKey::from_bytes([7; 32]),
    );
    let sealed = SealedStore::new(plain, ring, Arc::new(scopeup::OsRandom));
    let state = vec![b'x'; 200];
    let grant = serde_json::to_vec(&sample_grant("alice").unwrap()).unwrap();
    group.bench_function("store_baseline", |bencher| {
        bencher.to_async(runtime).iter_custom(|iterations| {
            let (sealed, state, grant) = (&sealed, &state, &grant);
            async move {
                let mut total = Duration::ZERO;
                for serial in 0..iterations {
                    let state_key = StoreKey::hashed("oauth-state", &[&serial.to_string()]);
                    sealed
                        .put(&state_key, state.clone(), Some(TTL))
                        .await
                        .unwrap();

                    let started = Instant::now();
                    let taken = sealed.take(&state_key).await.unwrap();
                    let grant_key = StoreKey::hashed("grant", &[&serial.to_string(), NOTES]);
                    sealed.put(&grant_key, grant.clone(), None).await.unwrap();
                    total += started.elapsed();
                    black_box(taken);
                }
                total
            }
        });
    });
    group.finish();
}

/// Times `iterations` callbacks, each for a new principal whose picker was submitted first
/// (untimed).
async fn time_callbacks(
    engine: &Engine,
    notes: &ProviderId,
    serial: &std::sync::atomic::AtomicU64,
    iterations: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iterations {
        let name = format!(
            "user-{}",
            serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let user = principal(&name).unwrap();
        let pending = start_authorization(engine, &user, notes).await.unwrap();

        let started = Instant::now();
        let page = engine
            .oauth_callback(pending.callback_params(), Some(&pending.browser))
            .await;
        total += started.elapsed();
        assert_eq!(page.kind, scopeup::PageKind::Completed, "{}", page.html);
    }
    total
}

fn clock() -> Arc<dyn scopeup_core::Clock> {
    Arc::new(SystemClock)
}

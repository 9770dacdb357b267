//! The engine's own tests: small hand-made shops with answers checked by hand.

use super::*;

fn product(id: i64, name: &str, category: Option<i64>) -> Product {
    Product {
        id,
        name: name.into(),
        text: name.into(),
        category_id: category,
        category: category.map(|c| format!("cat{c}")),
        active: true,
    }
}

#[test]
fn same_category_prefers_the_basket_s_main_category_and_skips_the_basket() {
    let catalogue = Catalogue::new(vec![
        product(10, "a", Some(1)),
        product(11, "b", Some(1)),
        product(12, "c", Some(2)),
        product(13, "d", Some(2)),
        product(14, "e", None),
        product(15, "f", Some(2)),
    ]);
    let basket = [catalogue.index(12).unwrap_or(0), catalogue.index(13).unwrap_or(0), 0];
    let recs = same_category(&catalogue, &basket, 5);
    let ids: Vec<i64> = recs.iter().map(|r| r.product_id).collect();
    assert_eq!(ids, vec![15, 11]);
    assert_eq!(recs[0].rank, 1);
    assert!(recs[0].reason.contains("cat2"));
}

fn shop() -> TrainingData {
    let day = 86_400;
    let t = 1_700_000_000;
    let products = vec![
        product(1, "pan", Some(1)),
        product(2, "mantequilla", Some(1)),
        product(3, "mermelada", Some(1)),
        product(4, "jabon", Some(2)),
    ];
    let basket = |sale_id, customer, days: i64, lines: &[i64]| Basket {
        sale_id,
        customer,
        at: t + days * day,
        lines: lines.iter().map(|&p| (p, 1)).collect(),
    };
    TrainingData {
        products,
        baskets: vec![
            basket(1, Some(7), 0, &[1, 2]),
            basket(2, Some(8), 1, &[1, 2]),
            basket(3, Some(8), 2, &[1, 3]),
            basket(4, None, 3, &[4]),
        ],
        interactions: vec![],
    }
}

#[test]
fn learned_models_rerank_basket_candidates_and_keep_their_evidence() {
    let basket_model = Engine::train(&shop(), &EngineConfig::default(), 1);
    assert!(
        basket_model.basket_model.is_some(),
        "a 4-product shop fits the basket model"
    );
    let mut config = EngineConfig::default();
    config.basket_model.max_features = 0;
    let ease = Engine::train(&shop(), &config, 1);
    assert!(ease.basket_model.is_none() && ease.ease.is_some());
    config.ease.max_items = 0;
    let neither = Engine::train(&shop(), &config, 1);
    assert!(neither.ease.is_none());
    let ids = |answer: &Answer| {
        let mut ids: Vec<i64> = answer.recommendations.iter().map(|r| r.product_id).collect();
        ids.sort();
        ids
    };
    let b = neither.for_basket(&[1], 3);
    for engine in [&basket_model, &ease] {
        let a = engine.for_basket(&[1], 3);
        assert_eq!(ids(&a), ids(&b), "same candidates");
        for r in &a.recommendations {
            let same = b
                .recommendations
                .iter()
                .find(|o| o.product_id == r.product_id)
                .expect("listed");
            assert_eq!((&r.reason, r.confidence), (&same.reason, same.confidence));
        }
        let ranks: Vec<u32> = a.recommendations.iter().map(|r| r.rank).collect();
        assert_eq!(ranks, (1..=a.recommendations.len() as u32).collect::<Vec<_>>());
        assert!(a.recommendations.windows(2).all(|w| w[0].score >= w[1].score));
        assert_eq!(a.recommendations[0].relevance, 100.0);
        // Butter (bought with bread by two customers) still leads jam (one).
        assert_eq!(a.recommendations[0].product_id, 2);
    }
}

/// Bread and butter are each bought with milk more often than with anything else, but
/// whoever takes both never takes milk, and half of them take jam. Cosine co-occurrence
/// sees the products apart and answers milk; the basket model has the pair as a feature
/// and answers jam.
#[test]
fn the_basket_model_learns_what_a_pair_is_bought_with() {
    let t = 1_700_000_000;
    let mut baskets = Vec::new();
    let mut add = |times: usize, lines: &[i64]| {
        for _ in 0..times {
            let sale_id = baskets.len() as i64 + 1;
            baskets.push(Basket {
                sale_id,
                customer: None,
                at: t + sale_id,
                lines: lines.iter().map(|&p| (p, 1)).collect(),
            });
        }
    };
    add(10, &[1, 2, 3]);
    add(10, &[1, 2]);
    add(30, &[1, 4]);
    add(30, &[2, 4]);
    let data = TrainingData {
        products: vec![
            product(1, "pan", Some(1)),
            product(2, "mantequilla", Some(1)),
            product(3, "mermelada", Some(1)),
            product(4, "leche", Some(1)),
        ],
        baskets,
        interactions: vec![],
    };
    let mut config = EngineConfig::default();
    config.basket_model.lambda = 1.0;
    config.basket_model.pair_lambda = 1.0;
    let first = |engine: &Engine, basket: &[i64]| engine.for_basket(basket, 2).recommendations[0].product_id;
    let with = Engine::train(&data, &config, 1);
    assert_eq!(first(&with, &[1, 2]), 3);
    assert_eq!(first(&with, &[1]), 4, "bread alone still goes with milk");
    // Pairs that meet: bread with butter, jam and milk; butter with jam and milk.
    assert_eq!(with.artifact()["models"]["basket_model"]["pairs"], 5);
    config.basket_model.max_features = 0;
    let without = Engine::train(&data, &config, 1);
    assert_eq!(first(&without, &[1, 2]), 4, "cosine alone answers milk");
    assert!(without.artifact()["models"]["basket_model"].is_null());
}

#[test]
fn basket_answers_come_from_co_occurrence_with_exact_evidence() {
    let engine = Engine::train(&shop(), &EngineConfig::default(), 3);
    let answer = engine.for_basket(&[1], 2);
    assert!(!answer.fallback);
    assert_eq!(answer.model_version, 3);
    let first = &answer.recommendations[0];
    assert_eq!(
        (first.product_id, first.rank, first.source.as_str()),
        (2, 1, "item-item")
    );
    assert_eq!(
        first.reason,
        "bought together with pan in 2 baskets in the last 90 days"
    );
    // Decayed P(mantequilla | pan): two of pan's three baskets, the newest one (with
    // mermelada) weighing a little more, so just under 2/3.
    assert!(first.confidence > 0.6 && first.confidence < 2.0 / 3.0, "{first:?}");
    assert_eq!(answer.recommendations[1].product_id, 3);
}

#[test]
fn users_get_repeats_and_neighbours_with_reasons_and_strangers_best_sellers() {
    let mut engine = Engine::train(&shop(), &EngineConfig::default(), 1);
    let for_7 = engine.for_user("7", Strategy::Hybrid, 3);
    let sources: Vec<&str> = for_7.recommendations.iter().map(|r| r.source.as_str()).collect();
    assert!(sources.contains(&"repeat"), "{for_7:?}");
    let mermelada = for_7
        .recommendations
        .iter()
        .find(|r| r.product_id == 3)
        .expect("mermelada");
    assert!(
        mermelada
            .reason
            .starts_with("bought together with pan (in your history)"),
        "{mermelada:?}"
    );
    let stranger = engine.for_user("nobody", Strategy::Hybrid, 2);
    assert!(stranger.fallback);
    assert_eq!(stranger.recommendations[0].product_id, 1, "pan is the best seller");
    // A discontinued product is never recommended again.
    engine.deactivate_product(3);
    assert!(engine
        .for_basket(&[1], 5)
        .recommendations
        .iter()
        .all(|r| r.product_id != 3));
}

#[test]
fn collaborative_answers_come_from_als_and_a_new_event_is_folded_in() {
    let mut engine = Engine::train(&shop(), &EngineConfig::default(), 1);
    let answer = engine.for_user("8", Strategy::Collaborative, 2);
    assert!(!answer.fallback, "{answer:?}");
    assert_eq!(answer.recommendations.len(), 2);
    // A user unknown at training, with one view since: folded in, not a stranger.
    engine.observe_interaction("web-1", 2, InteractionKind::View, 1_700_000_000 + 9 * 86_400);
    let folded = engine.for_user("web-1", Strategy::Hybrid, 2);
    assert!(!folded.fallback, "{folded:?}");
}

#[test]
fn products_never_sold_together_are_similar_by_their_text() {
    let mut data = shop();
    data.products.push(product(5, "pan integral", Some(1)));
    let engine = Engine::train(&data, &EngineConfig::default(), 1);
    let similar = engine.similar(5, 3).unwrap_or_default();
    assert_eq!(
        (similar[0].product_id, similar[0].source.as_str()),
        (1, "content"),
        "{similar:?}"
    );
    assert!(similar[0].similarity > 0.0 && similar[0].similarity < 1.0);
    let visual = engine.for_user("7", Strategy::Visual, 2);
    assert!(visual.recommendations.iter().any(|r| r.product_id == 5), "{visual:?}");
}

#[test]
fn a_sale_is_learnt_by_the_next_answer() {
    let mut engine = Engine::train(&shop(), &EngineConfig::default(), 1);
    assert!(
        engine.for_basket(&[4], 1).fallback,
        "jabon was never bought with anything"
    );
    engine.observe_sale(None, &[(4, 1), (3, 2)], 1_700_000_000 + 5 * 86_400);
    let answer = engine.for_basket(&[4], 1);
    assert!(!answer.fallback);
    assert_eq!(answer.recommendations[0].product_id, 3);
}

/// A shop of 80 products in 4 categories and 60 customers with tastes, 600 baskets over a
/// year, from a fixed-seed generator.
fn busy_shop() -> TrainingData {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let products = (0..80)
        .map(|i| product(i + 1, &format!("product {i}"), Some(i % 4)))
        .collect();
    let baskets = (0..600)
        .map(|sale| {
            let customer: i64 = rng.gen_range(0..60);
            let taste = customer % 4;
            let lines = (0..rng.gen_range(1..6))
                .map(|_| {
                    let product = if rng.gen_bool(0.7) {
                        4 * rng.gen_range(0..20) + taste
                    } else {
                        rng.gen_range(0..80)
                    };
                    (product + 1, 1)
                })
                .collect();
            Basket {
                sale_id: sale + 1,
                customer: Some(customer),
                at: 1_700_000_000 + sale * 50_000,
                lines,
            }
        })
        .collect();
    TrainingData {
        products,
        baskets,
        interactions: vec![],
    }
}

#[test]
fn shortlisted_hybrid_answers_equal_the_fully_scored_ones() {
    // One training (ALS's parallel sums may round differently run to run), its shortlist
    // rebuilt at several lengths.
    let mut full = Engine::train(&busy_shop(), &EngineConfig::default(), 1);
    let als = full.als.clone().expect("ALS trained");
    let mut engines: Vec<Engine> = [1, 3, 10]
        .map(|m| {
            let mut engine = full.clone();
            engine.config.als_shortlist = m;
            engine.als_shortlist = AlsShortlist::build(&als, m);
            engine
        })
        .into();
    full.config.als_shortlist = 0;
    full.als_shortlist = AlsShortlist::build(&als, 0);
    // A product unseen by ALS, one withdrawn, and a customer with a sale since training
    // (folded in, no shortlist).
    for engine in engines.iter_mut().chain([&mut full]) {
        engine.upsert_product(product(81, "new product", Some(1)));
        engine.deactivate_product(5);
        engine.observe_sale(Some(3), &[(81, 1), (2, 1)], 1_700_000_000 + 601 * 50_000);
    }
    let shortlisted = (0..60)
        .filter(|c| {
            engines[0]
                .user_factor(&c.to_string())
                .is_some_and(|f| matches!(f, UserFactor::Trained { shortlist: Some(_), .. }))
        })
        .count();
    assert_eq!(shortlisted, 59, "every customer but the one with a new sale");
    for customer in 0..60 {
        let expected = full.for_user(&customer.to_string(), Strategy::Hybrid, 10);
        for engine in &engines {
            assert_eq!(
                engine.for_user(&customer.to_string(), Strategy::Hybrid, 10),
                expected,
                "customer {customer}, shortlist of {}",
                engine.config.als_shortlist
            );
        }
    }
    // The folded-in customer's next answers reuse their factor until their next event;
    // an engine's clone starts without any, so it folds them in afresh.
    let engine = &mut engines[1];
    let first = engine.for_user("3", Strategy::Hybrid, 10);
    assert_eq!(engine.for_user("3", Strategy::Hybrid, 10), first);
    engine.observe_interaction("3", 7, InteractionKind::Cart, 1_700_000_000 + 602 * 50_000);
    let after = engine.for_user("3", Strategy::Hybrid, 10);
    assert_ne!(after, first);
    assert_eq!(after, engine.clone().for_user("3", Strategy::Hybrid, 10));
}

#[test]
fn upsert_moves_a_product_between_categories() {
    let mut catalogue = Catalogue::new(vec![product(1, "a", Some(1))]);
    catalogue.upsert(product(1, "a", Some(2)));
    assert!(catalogue.in_category(1).is_empty());
    assert_eq!(catalogue.in_category(2), &[0]);
}

#[test]
fn a_customer_prepared_after_an_event_gets_the_answer_they_would_have_folded_in_themselves() {
    let mut engine = Engine::train(&busy_shop(), &EngineConfig::default(), 1);
    engine.observe_sale(Some(3), &[(2, 1), (7, 1)], 1_700_000_000 + 601 * 50_000);
    let events = engine.history("3").expect("customer 3 has a history").events.len();
    let prepared = engine.clone();
    assert!(prepared.folded.get("3", events).is_none());
    prepared.prepare_user("3");
    assert!(prepared.folded.get("3", events).is_some(), "folded in at the event");
    assert_eq!(
        prepared.for_user("3", Strategy::Hybrid, 10),
        engine.for_user("3", Strategy::Hybrid, 10)
    );
    // A trained customer without new events, or an unknown one, has nothing to fold in.
    prepared.prepare_user("4");
    prepared.prepare_user("nobody");
    assert!(prepared
        .folded
        .get("4", engine.history("4").map_or(0, |h| h.events.len()))
        .is_none());
    assert!(prepared.folded.get("nobody", 0).is_none());
}

//! The people phase: the chain's customers (names, RUTs, e-mails, phones, addresses, home
//! shop, how often they shop and two favourite articles each), and the person input the
//! people store takes (suppliers use it too).

use std::collections::HashSet;

use rand::Rng;

use bodega_domain::rut;
use bodega_store::people::{self, Customer, Field, PersonInput};

use crate::data;
use crate::random::{ascii, normal, phone, pick};
use crate::simulation::Cust;
use crate::Run;

impl Run<'_> {
    /// The customers, in one transaction.
    pub(crate) async fn customers(&mut self, progress: &mut impl FnMut(&str, u64, u64)) -> anyhow::Result<()> {
        let Run {
            db,
            cfg,
            ref actor,
            ref mut rng,
            ref mut sim,
            ref mut summary,
            ..
        } = *self;
        let mut tx = db.begin().await?;
        {
            let c = &mut tx.conn();
            let mut ruts = HashSet::new();
            let mut emails = HashSet::new();
            for i in 0..cfg.customers {
                let female = rng.gen_bool(0.52);
                let first = if female {
                    pick(rng, data::FIRST_NAMES_F)
                } else {
                    pick(rng, data::FIRST_NAMES_M)
                };
                let paternal = pick(rng, data::SURNAMES);
                let maternal = pick(rng, data::SURNAMES);
                let body = loop {
                    let b = rng.gen_range(6_000_000..26_000_000u32);
                    if ruts.insert(b) {
                        break b;
                    }
                };
                let domain = pick(rng, data::EMAIL_DOMAINS);
                let mut email = format!("{}.{}@{domain}", ascii(first), ascii(paternal));
                let mut k = 1;
                while !emails.insert(email.clone()) {
                    k += 1;
                    email = format!(
                        "{}.{}{}{k}@{domain}",
                        ascii(first),
                        ascii(paternal),
                        &ascii(maternal)[..1]
                    );
                }
                let home = 1 + rng.gen_range(0..cfg.stores);
                let comuna = pick(rng, data::COMUNAS[(home - 1) % data::COMUNAS.len()]);
                let customer: Customer = people::create(
                    c,
                    actor,
                    &Input(vec![
                        ("first_name", text(first)),
                        ("last_name", text(&format!("{paternal} {maternal}"))),
                        ("email", text(&email)),
                        ("phone", text(&phone(rng, false))),
                        (
                            "address",
                            text(&format!(
                                "{} {}, {comuna}",
                                pick(rng, data::STREETS),
                                rng.gen_range(10..4000)
                            )),
                        ),
                        ("rut", text(&format!("{body}-{}", rut::check_digit(body)))),
                        ("notes", Field::Text(None)),
                    ]),
                )
                .await?;
                let favourites = [
                    rng.gen_range(0..sim.products.len()),
                    rng.gen_range(0..sim.products.len()),
                ];
                sim.customers.push(Cust {
                    id: customer.id,
                    home,
                    weight: (normal(rng) * 1.0).exp(),
                    favourites,
                });
                if i % 100 == 99 || i + 1 == cfg.customers {
                    progress("clientes", i as u64 + 1, cfg.customers as u64);
                }
            }
            summary.customers = sim.customers.len();
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A person's columns, as the people store takes them.
pub(crate) struct Input(pub(crate) Vec<(&'static str, Field)>);

impl PersonInput for Input {
    fn fields(&self) -> Vec<(&'static str, Field)> {
        self.0.clone()
    }
}

pub(crate) fn text(s: &str) -> Field {
    Field::Text(Some(s.to_string()))
}

//! A search corpus for the load generator: many groups full of messages in
//! English, Chinese and both, whose words follow Zipf's law as real text's
//! do (a few words everywhere, most words rare), and queries drawn from the
//! text written, so every query asks for something that exists.

use natter_common::{
    api::Role,
    events::{EventBody, MessageContent},
    ids::UserId,
    validate::GroupName,
};
use rand::{distr::weighted::WeightedIndex, prelude::*, rngs::SmallRng};
use serde::Serialize;

use crate::db::{self, log_tx::LogConn, Db};

/// The most frequent English words, most frequent first; rarer words are made up.
const ENGLISH: &str = "the be to of and a in that have i it for not on with he as you do at this but his by from \
    they we say her she or an will my one all would there their what so up out if about who get which go me when \
    make can like time no just him know take people into year your good some could them see other than then now \
    look only come its over think also back after use two how our work first well way even new want because any \
    these give day most us meeting notes project deadline release review budget report client design team launch \
    server database search message group update schedule call agenda plan";

/// Frequent Chinese characters, most frequent first (roughly).
const CHINESE: &str = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里\
    后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但\
    身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东\
    政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神\
    数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望\
    直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红\
    治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始\
    版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽";

/// Made-up English words beyond the common ones.
const INVENTED_WORDS: usize = 30_000;
/// Queries of each kind kept for the load generator.
const QUERIES_PER_KIND: usize = 200;

/// What to write.
pub struct Plan {
    pub groups: u32,
    pub messages: u32,
    /// The first user is a member of this many groups (the last ones).
    pub member_of: u32,
}

/// Queries drawn from the corpus, by kind.
#[derive(Debug, Default, Serialize)]
pub struct Queries {
    /// One whole word.
    pub word: Vec<String>,
    /// Two words of one message, in another order.
    pub words: Vec<String>,
    /// The start of a word (3–4 letters).
    pub prefix: Vec<String>,
    /// One Chinese character.
    pub cjk1: Vec<String>,
    /// Two Chinese characters in a row.
    pub cjk2: Vec<String>,
    /// A Chinese pair and an English word.
    pub mixed: Vec<String>,
}

/// Where the corpus went.
#[derive(Debug, Serialize)]
pub struct Corpus {
    pub groups: Vec<i64>,
    /// The first user's groups.
    pub searcher_groups: Vec<i64>,
    pub messages: u32,
    /// A word found only in the last message written, in the last group (the
    /// one indexed last): once a search finds it, the index has caught up.
    pub last_word: String,
    pub queries: Queries,
}

struct Text {
    english: Vec<String>,
    english_pick: WeightedIndex<f64>,
    chinese: Vec<char>,
    chinese_pick: WeightedIndex<f64>,
}

impl Text {
    fn new(rng: &mut SmallRng) -> Self {
        let mut english: Vec<String> = ENGLISH.split_whitespace().map(str::to_owned).collect();
        const ONSETS: [&str; 16] = [
            "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st",
        ];
        const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ai"];
        while english.len() < INVENTED_WORDS {
            let syllables = rng.random_range(2..=4);
            let word: String = (0..syllables)
                .map(|_| format!("{}{}", ONSETS.choose(rng).unwrap(), VOWELS.choose(rng).unwrap()))
                .collect();
            english.push(word);
        }
        let chinese: Vec<char> = CHINESE.chars().filter(|c| !c.is_whitespace()).collect();
        let zipf = |n: usize| WeightedIndex::new((1..=n).map(|rank| 1.0 / rank as f64)).expect("weights");
        Self {
            english_pick: zipf(english.len()),
            chinese_pick: zipf(chinese.len()),
            english,
            chinese,
        }
    }

    fn english(&self, rng: &mut SmallRng, words: usize) -> Vec<&str> {
        (0..words)
            .map(|_| self.english[self.english_pick.sample(rng)].as_str())
            .collect()
    }

    fn chinese(&self, rng: &mut SmallRng, chars: usize) -> String {
        (0..chars)
            .map(|_| self.chinese[self.chinese_pick.sample(rng)])
            .collect()
    }
}

/// Creates the groups (members: the first user in the last `member_of`,
/// two others in each) and writes the messages through the log's append,
/// oldest first, spread over the groups at random.
pub async fn write(db: &Db, users: &[UserId], plan: &Plan) -> anyhow::Result<Corpus> {
    anyhow::ensure!(users.len() >= 3, "a corpus needs at least 3 users");
    let now = db::now_ms();
    let mut tx = db.begin_write().await?;
    let mut groups = Vec::new();
    let mut members: Vec<Vec<UserId>> = Vec::new();
    let others = users.len() - 1;
    for k in 0..plan.groups as usize {
        let id = db::conversations::create_group(&mut tx, &GroupName::parse(&format!("corpus {k}"))?, now).await?;
        let mut in_group = vec![users[1 + k % others], users[1 + (k + 1) % others]];
        in_group.dedup();
        if k >= (plan.groups - plan.member_of.min(plan.groups)) as usize {
            in_group.push(users[0]);
        }
        for (n, user) in in_group.iter().enumerate() {
            let role = if n == 0 { Role::Owner } else { Role::Member };
            db::members::add(&mut tx, id, *user, role, now).await?;
        }
        groups.push(id);
        members.push(in_group);
    }
    tx.commit().await?;

    // Written on a thread of its own, as the log's writer does.
    let mut conn = LogConn::open(db)?;
    let total = plan.messages;
    let searcher_groups = groups
        .iter()
        .zip(&members)
        .filter(|(_, m)| m.contains(&users[0]))
        .map(|(g, _)| g.0)
        .collect();
    let group_ids = groups.iter().map(|g| g.0).collect();
    let (last_word, queries) = tokio::task::spawn_blocking(move || -> anyhow::Result<(String, Queries)> {
        let mut rng = SmallRng::seed_from_u64(7);
        let text = Text::new(&mut rng);
        let mut queries = Queries::default();
        let keep = |list: &mut Vec<String>, query: String, rng: &mut SmallRng| {
            if list.len() < QUERIES_PER_KIND {
                list.push(query);
            } else if rng.random_ratio(1, 50) {
                let at = rng.random_range(0..list.len());
                list[at] = query;
            }
        };
        let last_word = "zzcorpusdone".to_owned();
        let mut written = 0;
        // Sent over the last hour, oldest first.
        let start = now - 3_600_000;
        while written < total {
            let batch = (total - written).min(10_000);
            let tx = conn.write()?;
            for k in 0..batch {
                let n = written + k;
                let last = n + 1 == total;
                let g = if last {
                    groups.len() - 1
                } else {
                    rng.random_range(0..groups.len())
                };
                let sender = *members[g].choose(&mut rng).expect("members");
                let body = match rng.random_range(0..10) {
                    0..=5 => {
                        let count = rng.random_range(3..=16);
                        let words = text.english(&mut rng, count);
                        if let [a, .., b] = words.as_slice() {
                            keep(&mut queries.word, (*b).to_owned(), &mut rng);
                            keep(&mut queries.words, format!("{b} {a}"), &mut rng);
                            if a.len() >= 5 {
                                let cut = rng.random_range(3..=4);
                                keep(&mut queries.prefix, a[..cut].to_owned(), &mut rng);
                            }
                        }
                        let mut line = words.join(" ");
                        line[..1].make_ascii_uppercase();
                        line
                    }
                    6..=8 => {
                        let count = rng.random_range(4..=30);
                        let line = text.chinese(&mut rng, count);
                        let chars: Vec<char> = line.chars().collect();
                        let at = rng.random_range(0..chars.len() - 1);
                        keep(&mut queries.cjk1, chars[at].to_string(), &mut rng);
                        keep(&mut queries.cjk2, chars[at..at + 2].iter().collect(), &mut rng);
                        line
                    }
                    _ => {
                        let pair = text.chinese(&mut rng, 2);
                        let count = rng.random_range(2..=8);
                        let words = text.english(&mut rng, count);
                        keep(&mut queries.mixed, format!("{pair} {}", words[0]), &mut rng);
                        format!("{pair} {} {}", words.join(" "), text.chinese(&mut rng, 6))
                    }
                };
                let body = if last { format!("{body} {last_word}") } else { body };
                let event = EventBody::Message {
                    content: MessageContent::Text { text: body },
                    reply_to: None,
                    mentions: vec![],
                };
                let at = start + i64::from(n) * 3_600_000 / i64::from(total.max(1));
                db::append::event(&tx, groups[g], sender, None, event, at)?;
            }
            tx.commit()?;
            written += batch;
        }
        Ok((last_word, queries))
    })
    .await??;
    Ok(Corpus {
        groups: group_ids,
        searcher_groups,
        messages: total,
        last_word,
        queries,
    })
}
